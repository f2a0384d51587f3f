"""The training loop: shuffled mini-batch SGD with evaluation, monitoring and checkpoints.

For each epoch: reshuffle the training indices with the seeded generator, then for each
mini-batch: forward, loss, backward, (clip), learning rate from the schedule, optimizer
step. After each epoch (and every `train.eval_every` steps) evaluate on the validation split,
record metrics and per-layer statistics, update `best`, early stopping and the plateau
schedule, and write the `last` checkpoint: after every epoch, or with
`train.checkpoint.min_interval_s` at most that often (`LastWrites`), and always at the run's
end, on a stop and with a periodic checkpoint.

Everything the loop needs to continue exactly where it stopped lives in `LoopState` and the
RNG/optimizer/schedule states, all of which go into every checkpoint: resuming from any
checkpoint replays the remaining steps bit for bit. The loop never prints: it reports to an
`Observer` (see `report.py`), and hands checkpoints and metric rows to its `Callbacks`
(`experiment.RunFiles` writes them to a run directory; the default `NoCallbacks` writes
nothing, `History` keeps every row in memory). The latest row is `Trainer.last_row`.

A ready Trainer comes from one function, `assembly.build_trainer(cfg, bundle)`, for a
validated config and a `DataBundle` (loaded by `data.load_data`, or built from arrays).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from mlptrain.errors import DivergenceError
from mlptrain.metrics import evaluate, monitor_mode
from mlptrain.monitors import EarlyStopping, ImprovementTracker
from mlptrain.nn.workspace import Workspace
from mlptrain.optim.clipping import clip_grad_norm_, global_norm

if TYPE_CHECKING:
    from mlptrain.config.schema import ExperimentConfig
    from mlptrain.data.dataset import DataBundle
    from mlptrain.nn.network import MLP
    from mlptrain.optim.optimizers import Optimizer

PROBE_ROWS = 1024  # rows of the fixed batch for activation statistics when there is no val split


class LossFunction(Protocol):
    """What the loop asks of its loss: a `Loss`, a `ScaledTargetLoss` around one, or the
    scikit-learn estimators' objective."""

    def value(self, logits: np.ndarray, y: Any, sample_weight: Any = None) -> float: ...
    def value_and_grad(
        self, logits: np.ndarray, y: Any, sample_weight: Any = None
    ) -> tuple[float, np.ndarray]: ...  # (L, dL/dlogits (batch, n_out))


class LearningRates(Protocol):
    """What the loop asks of its schedule: a `Schedule`, or the scikit-learn estimators'
    rate, which they set between iterations."""

    def lr_at(self, step: int, steps_per_epoch: int) -> float: ...
    def end_epoch(self, metric: float | None, /) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict, /) -> None: ...


class Observer(Protocol):
    """What the loop reports; report.py renders it, tests may record it."""

    def epoch_started(self, epoch: int, n_batches: int, start_batch: int) -> None: ...
    def batches_done(self, count: int, running_loss: float) -> None: ...
    def evaluated(self, row: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...


class SilentObserver:
    """An observer that ignores everything (library use, tests)."""

    def epoch_started(self, epoch: int, n_batches: int, start_batch: int) -> None:
        pass

    def batches_done(self, count: int, running_loss: float) -> None:
        pass

    def evaluated(self, row: dict[str, Any]) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class Callbacks(Protocol):
    """Where the loop's results go: checkpoints to write and metric rows to record."""

    def begin(self, trainer: Trainer) -> None:
        """`fit` starts: fresh, or resumed at `trainer.state.step`."""

    def checkpoint(self, trainer: Trainer, tags: set[str]) -> None:
        """Save the trainer's full state under each tag ("last", "best", "epoch-0007").
        A "best" alone may be kept in memory and written with the next "last" (RunFiles
        does so when `train.checkpoint.min_interval_s` > 0)."""

    def record(self, trainer: Trainer, row: dict[str, Any],
               layer_stats: dict[str, Any] | None) -> None:
        """Persist one evaluation row (and, at an epoch's end, the per-layer statistics)."""


class NoCallbacks:
    """Callbacks that keep nothing (in-memory training: no run directory, no files)."""

    def begin(self, trainer: Trainer) -> None:
        pass

    def checkpoint(self, trainer: Trainer, tags: set[str]) -> None:
        pass

    def record(self, trainer: Trainer, row: dict[str, Any],
               layer_stats: dict[str, Any] | None) -> None:
        pass


class History(NoCallbacks):
    """Callbacks that keep every evaluation row in `rows` (a learning curve in memory)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, trainer: Trainer, row: dict[str, Any],
               layer_stats: dict[str, Any] | None) -> None:
        self.rows.append(row)


@dataclass
class LoopState:
    """Counters and running sums that, with the RNG states, make a checkpoint resumable."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0  # batches done in the current, unfinished epoch
    shuffle_state_at_epoch_start: dict[str, Any] | None = None
    loss_sum: float = 0.0  # sum over the epoch's batches of batch_loss * batch_size
    correct: int = 0  # correctly classified training samples this epoch
    seen: int = 0  # training samples seen this epoch
    grad_norm_sum: float = 0.0
    first_loss: float | None = None
    train_seconds: float = 0.0  # wall time spent in training steps, all epochs
    status: str = "running"

    def reset_epoch_sums(self) -> None:
        self.loss_sum, self.correct, self.seen, self.grad_norm_sum = 0.0, 0, 0, 0.0
        self.batch_in_epoch = 0


class LastWrites:
    """When the `last` checkpoint is due at an epoch's end: always with `min_interval_s` 0;
    else when at least `min_interval_s` seconds (monotonic wall time) have passed since the
    last one this process wrote, the first epoch's end included. The loop writes it anyway
    at the run's end, on a stop and with a periodic checkpoint (`Trainer._run_epoch`).

    A hard kill (SIGKILL, power loss) then loses at most `min_interval_s` seconds plus one
    epoch of training, which a resume replays exactly."""

    def __init__(self, min_interval_s: float):
        self.min_interval_s = min_interval_s
        self.written_at = -math.inf  # time.monotonic() of this process's latest `last`

    def due(self) -> bool:
        return time.monotonic() - self.written_at >= self.min_interval_s

    def written(self) -> None:
        self.written_at = time.monotonic()


@dataclass
class StopSignal:
    """Asks the loop to stop at the next step boundary (checked before every step, so also
    before an epoch draws its permutation). Set by a signal handler (Ctrl-C, SIGTERM), by the
    CLI when standard output is closed, or by a caller; `reason` says which."""

    requested: bool = False
    reason: str | None = None  # "SIGINT", "SIGTERM", "broken pipe", ...

    def request(self, reason: str) -> None:
        """Ask to stop; the first reason is kept."""
        if not self.requested:
            self.requested, self.reason = True, reason


@dataclass
class Trainer:
    """Owns the model, its optimizer and schedule, the data and the loop state.

    `callbacks` receives every checkpoint and metric row; `last_row` is the latest row (a
    resumed run starts with the last row recorded before the resume point).
    """

    cfg: ExperimentConfig  # resolved against the data (assembly.resolve_against_data)
    bundle: DataBundle
    net: MLP
    loss_fn: LossFunction
    optimizer: Optimizer
    schedule: LearningRates
    shuffle_rng: np.random.Generator
    dropout_rng: np.random.Generator
    callbacks: Callbacks = field(default_factory=NoCallbacks)
    state: LoopState = field(default_factory=LoopState)
    best: ImprovementTracker = field(init=False)
    early_stopping: EarlyStopping | None = field(init=False, default=None)
    last_row: dict[str, Any] | None = field(init=False, default=None)
    steps_per_epoch: int = field(init=False)
    batch_size: int = field(init=False)  # train.batch_size; the whole split for lbfgs
    # the activation statistics' fixed batch without a val split: (<= PROBE_ROWS, n_features)
    # training rows, scaled on first use (the same rows and scaler every epoch)
    _probe: np.ndarray | None = field(init=False, default=None, repr=False)
    # weights before the epoch's last step, for the update/weight ratio (set by that step)
    _previous_params: np.ndarray | None = field(init=False, default=None, repr=False)
    # reused batch buffers (_batch_features): raw rows, and their scaled floats
    _raw_batch: np.ndarray | None = field(init=False, default=None, repr=False)
    _float_batch: np.ndarray | None = field(init=False, default=None, repr=False)
    _last_writes: LastWrites = field(init=False, repr=False)
    # a step's other reused arrays: labels, sample weights, predictions (Workspace)
    _work: Workspace = field(init=False, default_factory=Workspace, repr=False)

    def __post_init__(self) -> None:
        ckpt = self.cfg.train.checkpoint
        self.best = ImprovementTracker(ckpt.monitor, monitor_mode(ckpt.monitor, ckpt.mode))
        self._last_writes = LastWrites(ckpt.min_interval_s)
        es = self.cfg.train.early_stopping
        if es is not None:
            self.early_stopping = EarlyStopping(
                es.monitor, monitor_mode(es.monitor, es.mode), es.patience, es.min_delta
            )
        n = self.bundle.train.X.shape[0]
        full_batch = getattr(self.optimizer, "full_batch", False)  # lbfgs: an epoch is one step
        batch = self.batch_size = n if full_batch else self.cfg.train.batch_size
        self.steps_per_epoch = n // batch if self.cfg.train.drop_last else math.ceil(n / batch)
        if self.steps_per_epoch == 0:
            self.steps_per_epoch = 1  # fewer samples than one batch: keep them as one batch

    # ---- the loop -------------------------------------------------------------------------

    def fit(self, observer: Observer | None = None, stop: StopSignal | None = None) -> str:
        """Train until the epoch budget, early stopping, a stop request or divergence.

        Returns the final status: "completed", "early_stopped" or "interrupted".
        Raises DivergenceError when the loss becomes NaN/inf or explodes.
        """
        observer = observer or SilentObserver()
        stop = stop or StopSignal()
        self.callbacks.begin(self)
        while (ended := self.ended()) is None:
            if not self._run_epoch(observer, stop):
                self.state.status = "interrupted"
                self.callbacks.checkpoint(self, {"last"})
                return self.state.status
        self.state.status = ended
        es = self.early_stopping
        if ended == "early_stopped" and es is not None:  # only early stopping ends so
            observer.message(f"early stopping: {es.monitor} has not improved for "
                             f"{es.patience} evaluations (best {es.best:.6g})")
        return ended

    def ended(self) -> str | None:
        """"early_stopped" or "completed" when no epoch is left to train, else None. Derived
        from the state alone (the epoch count, the budget, early stopping's counter), so a run
        restored from its final checkpoint is known to have ended even when the process was
        killed before recording it."""
        if self.state.batch_in_epoch:
            return None
        if self.early_stopping is not None and self.early_stopping.should_stop:
            return "early_stopped"
        return "completed" if self.state.epoch >= self.cfg.train.epochs else None

    def _run_epoch(self, observer: Observer, stop: StopSignal) -> bool:
        """One epoch (or the rest of one, after a resume). False if stopped midway."""
        state, cfg = self.state, self.cfg
        if stop.requested:  # at an epoch boundary: before the next permutation is drawn
            return False
        if state.batch_in_epoch == 0:
            state.shuffle_state_at_epoch_start = dict(self.shuffle_rng.bit_generator.state)
        else:  # resuming mid-epoch: replay the epoch's permutation from its saved start
            saved = cast(dict[str, Any], state.shuffle_state_at_epoch_start)  # set mid-epoch
            self.shuffle_rng.bit_generator.state = saved
        order = self._epoch_order()
        observer.epoch_started(state.epoch + 1, self.steps_per_epoch, state.batch_in_epoch)
        batch = self.batch_size
        eval_every = cfg.train.eval_every
        report_every = max(1, self.steps_per_epoch // 50)
        clock = _StepClock(state)  # training-step time only: evaluations are not counted
        for b in range(state.batch_in_epoch, self.steps_per_epoch):
            if stop.requested:
                clock.pause()
                return False
            is_last = b == self.steps_per_epoch - 1
            rows = order[b * batch : (b + 1) * batch]  # (batch,); the last one may be partial
            self._train_step(rows, keep_previous=is_last)
            state.batch_in_epoch = b + 1
            if (b + 1) % report_every == 0 or is_last:
                observer.batches_done(b + 1, state.loss_sum / max(state.seen, 1))
            if eval_every and state.step % eval_every == 0 and not is_last:
                clock.pause()
                self._evaluate_and_record(observer, epoch_end=False)
                clock.resume()
        epoch_seconds = clock.pause()
        state.epoch += 1
        self._evaluate_and_record(observer, epoch_end=True, epoch_seconds=epoch_seconds)
        state.reset_epoch_sums()
        periodic = self._periodic_tags()
        if periodic or self.ended() is not None or self._last_writes.due():
            self.callbacks.checkpoint(self, {"last"} | periodic)
            self._last_writes.written()
        return True

    def _epoch_order(self) -> np.ndarray:
        n = self.bundle.train.X.shape[0]
        if self.cfg.train.shuffle:
            return self.shuffle_rng.permutation(n)
        return np.arange(n)

    def _train_step(self, rows: np.ndarray, keep_previous: bool) -> None:
        """Forward, loss, backward, clip, optimizer step on the training rows `rows`."""
        net, state = self.net, self.state
        X = self._batch_features(rows)  # (batch, n_features) in net.dtype, a reused buffer
        y = self._gather("y", self.bundle.train.y, rows)  # (batch,) or (batch, n_out)
        logits = net.forward(X, training=True, rng=self.dropout_rng)  # (batch, n_out)
        if self.bundle.task != "regression":
            state.correct += count_correct(logits, y, self.bundle.task, self._work)
        w = self.bundle.train.w  # (n,) sample weights, or None
        weights = {} if w is None else {"sample_weight": self._gather("w", w, rows)}
        loss, dlogits = self.loss_fn.value_and_grad(logits, y, **weights)
        self._check_divergence(loss)
        net.backward(dlogits)
        clip = self.cfg.optimizer.clip_norm
        grad_norm = global_norm(net.grads) if clip is None else clip_grad_norm_(net.grads, clip)
        if keep_previous:  # the epoch's last step: keep weights for the update/weight ratio
            self._previous_params = self._work.like("previous_params", net.params)
            np.copyto(self._previous_params, net.params)
        lr = self.schedule.lr_at(state.step, self.steps_per_epoch)
        if getattr(self.optimizer, "needs_closure", False):  # lbfgs: re-evaluates in its search
            full_batch: Any = self.optimizer  # optim.lbfgs.LBFGS
            full_batch.step(net.params, net.grads, lr, loss=loss,
                            closure=lambda: self._loss_and_grads(X, y, weights))
        else:
            self.optimizer.step(net.params, net.grads, lr)
        state.step += 1
        n = rows.shape[0]
        state.loss_sum += loss * n
        state.seen += n
        state.grad_norm_sum += grad_norm

    def _loss_and_grads(self, X: np.ndarray, y: np.ndarray, weights: dict) -> float:
        """The loss of batch X at the current parameters, gradients into net.grads."""
        logits = self.net.forward(X, training=True, rng=self.dropout_rng)
        loss, dlogits = self.loss_fn.value_and_grad(logits, y, **weights)
        self.net.backward(dlogits)
        return loss

    def _gather(self, name: str, array: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``array[rows]`` into the reused work array `name` (rows of a permutation: in range)."""
        out = self._work.get(name, (rows.shape[0], *array.shape[1:]), array.dtype)
        return np.take(array, rows, axis=0, out=out, mode="clip")

    def _batch_features(self, rows: np.ndarray) -> np.ndarray:
        """The scaled features of the training rows `rows`, without allocating.

        The raw rows (uint8 for images) are gathered into one reused buffer and converted
        into another, 64-byte aligned, in the network's dtype: per step, only one batch is
        ever held as floats. Both buffers are overwritten by the next step.
        """
        X, n = self.bundle.train.X, rows.shape[0]
        if self._raw_batch is None or self._float_batch is None or self._raw_batch.shape[0] < n:
            from mlptrain.nn.network import aligned_empty

            self._raw_batch = np.empty((n, X.shape[1]), X.dtype)  # (batch, n_features) raw
            self._float_batch = aligned_empty(n * X.shape[1], self.net.dtype).reshape(n, -1)
        raw = self._raw_batch[:n]
        np.take(X, rows, axis=0, out=raw, mode="clip")  # rows are a permutation's: in range
        return self.bundle.preprocessor.transform(raw, dtype=self.net.dtype,
                                                  out=self._float_batch[:n])

    def _check_divergence(self, loss: float) -> None:
        state = self.state
        if state.first_loss is None:
            state.first_loss = loss
        limit = self.cfg.train.divergence_factor * max(state.first_loss, 1e-12)
        if math.isfinite(loss) and loss <= limit:
            return
        state.status = "diverged"
        lr = self.schedule.lr_at(state.step, self.steps_per_epoch)
        what = "is not finite" if not math.isfinite(loss) else (
            f"exploded above {self.cfg.train.divergence_factor:g}x its first value "
            f"({state.first_loss:.4g})"
        )
        best = self.best.best_epoch
        kept = f"; the best checkpoint (epoch {best}) is kept" if best else ""
        raise DivergenceError(
            f"training diverged at epoch {state.epoch + 1}, step {state.step + 1}: loss "
            f"{loss:.4g} {what} (learning rate {lr:.3g}){kept}",
            hint=f"lower optimizer.lr (e.g. optimizer.lr={lr / 10:.3g}) or set optimizer.clip_norm",
        )

    # ---- evaluation, records, monitors ----------------------------------------------------

    def _evaluate_and_record(
        self, observer: Observer, epoch_end: bool, epoch_seconds: float | None = None
    ) -> None:
        row = self._metrics_row(epoch_end, epoch_seconds)
        layer_stats = self._layer_stats() if epoch_end else None
        improved = self.best.update(row.get(self.best.monitor), self.state.epoch)
        if self.early_stopping is not None and epoch_end:
            self.early_stopping.update(row.get(self.early_stopping.monitor))
        if epoch_end:
            self.schedule.end_epoch(row.get(self.cfg.schedule.monitor))
        row["best_" + self.best.monitor] = self.best.best
        self.last_row = row
        self.callbacks.record(self, row, layer_stats)
        observer.evaluated(row)
        if improved:
            self.callbacks.checkpoint(self, {"best"})

    def _metrics_row(self, epoch_end: bool, epoch_seconds: float | None) -> dict[str, Any]:
        state, bundle = self.state, self.bundle
        seen = max(state.seen, 1)
        fraction = state.batch_in_epoch / self.steps_per_epoch
        row: dict[str, Any] = {
            "epoch": state.epoch if epoch_end else state.epoch + fraction,
            "step": state.step,
            "lr": self._last_step_lr(),
            "train_loss": state.loss_sum / seen,
        }
        if bundle.task != "regression":
            row["train_accuracy"] = state.correct / seen
        if bundle.val is not None:
            result = evaluate(self.net, self.loss_fn, bundle.preprocessor, bundle.val.X,
                              bundle.val.y, bundle.task)
            row.update({f"val_{k}": v for k, v in result.items()})
        row["grad_norm"] = state.grad_norm_sum / max(state.batch_in_epoch, 1)
        if epoch_seconds is not None:
            row["epoch_time"] = epoch_seconds
            row["samples_per_sec"] = state.seen / epoch_seconds if epoch_seconds > 0 else 0.0
        row["wall_time"] = state.train_seconds
        return row

    def _last_step_lr(self) -> float:
        """The learning rate of the last optimizer step before a metrics row: step `step - 1`
        (0-based), the rate used during the epoch for per-epoch schedules (step, plateau), the
        epoch's final rate for those that change every step (cosine, exponential, ...). The
        plateau schedule reduces its rate only after the row (`end_epoch`)."""
        return float(self.schedule.lr_at(max(self.state.step - 1, 0), self.steps_per_epoch))

    def _layer_stats(self) -> dict[str, Any]:
        """Per-layer activation, gradient, weight and update statistics (the seeds' checks).

        Activation statistics come from the last eval-mode forward pass: the last batch of the
        validation pass `_metrics_row` has just made (the same rows every epoch, so no extra
        forward pass), or a fixed probe batch of training rows when there is no validation
        split. Gradient norms are those of the epoch's last step.
        """
        net = self.net
        if self.bundle.val is None:
            if self._probe is None:
                self._probe = self.bundle.preprocessor.transform(
                    self.bundle.train.X[:PROBE_ROWS], dtype=net.dtype)
            net.forward(self._probe, training=False)
        activations = net.activation_stats()
        norms = net.layer_norms()
        updates = update_ratios(net, self._previous_params)
        layers = []
        for i, norm in enumerate(norms):
            entry = {"layer": i, **norm, "update_ratio": updates[i]}
            if i < len(activations):
                entry.update(activations[i])
            layers.append(entry)
        return {"epoch": self.state.epoch, "step": self.state.step, "layers": layers}

    def _periodic_tags(self) -> set[str]:
        every = self.cfg.train.checkpoint.every
        if every and self.state.epoch % every == 0:
            return {f"epoch-{self.state.epoch:04d}"}
        return set()

    # ---- state for checkpoints ------------------------------------------------------------

    def state_meta(self) -> dict[str, Any]:
        """Everything besides arrays that resuming needs (JSON-able)."""
        return {
            "loop": asdict(self.state),
            "best": self.best.state_dict(),
            "early_stopping": None if self.early_stopping is None else self.early_stopping.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": {
                "shuffle": self.shuffle_rng.bit_generator.state,
                "dropout": self.dropout_rng.bit_generator.state,
            },
        }

    def restore_meta(self, meta: dict[str, Any]) -> None:
        """Inverse of `state_meta`."""
        self.state = LoopState(**meta["loop"])
        self.best.load_state_dict(meta["best"])
        if self.early_stopping is not None and meta.get("early_stopping") is not None:
            self.early_stopping.load_state_dict(meta["early_stopping"])
        self.schedule.load_state_dict(meta["schedule"])
        self.shuffle_rng.bit_generator.state = meta["rng"]["shuffle"]
        self.dropout_rng.bit_generator.state = meta["rng"]["dropout"]


class _StepClock:
    """Adds the wall time of training steps to `state.train_seconds`, between pauses."""

    def __init__(self, state: LoopState):
        self.state, self.seconds = state, 0.0
        self.resume()

    def resume(self) -> None:
        self._started = time.perf_counter()

    def pause(self) -> float:
        """Stop counting; return the step time of this epoch so far."""
        elapsed = time.perf_counter() - self._started
        self.seconds += elapsed
        self.state.train_seconds += elapsed
        return self.seconds


def count_correct(logits: np.ndarray, y: np.ndarray, task: str, work: Workspace | None = None) -> int:
    """Correct predictions from logits: argmax (or logit >= 0 for a single sigmoid unit);
    a multi-label row counts when every label is right. Monotone outputs make logits enough.
    With `work`, the class-id case (the training loop's) allocates nothing."""
    if work is not None and logits.shape[1] > 1 and y.ndim == 1 and task != "multilabel":
        n = logits.shape[0]
        predicted = np.argmax(logits, axis=1, out=work.get("predicted", (n,), np.intp))
        return int(np.count_nonzero(np.equal(predicted, y, out=work.get("hits", (n,), bool))))
    if task == "multilabel":
        return int(np.sum(np.all((logits >= 0) == (y >= 0.5), axis=1)))
    if logits.shape[1] == 1:
        target = y.reshape(-1) >= 0.5 if y.dtype.kind == "f" else y.reshape(-1)
        return int(np.sum((logits[:, 0] >= 0) == target))
    target = y if y.ndim == 1 else np.argmax(y, axis=1)
    return int(np.sum(np.argmax(logits, axis=1) == target))


def update_ratios(net: MLP, previous: np.ndarray | None) -> list[float | None]:
    """||W_after - W_before|| / ||W_before|| per dense weight over the epoch's last step."""
    weights = [v for k, v in net.parameters().items() if k.endswith(".weight") and ".bn." not in k]
    if previous is None:
        return [None] * len(weights)
    base = net.params.__array_interface__["data"][0]
    ratios = []
    for w in weights:
        start = (w.__array_interface__["data"][0] - base) // w.itemsize
        before = previous[start : start + w.size].reshape(w.shape)
        norm = float(np.linalg.norm(before))
        ratios.append(float(np.linalg.norm(w - before)) / norm if norm > 0 else None)
    return ratios
