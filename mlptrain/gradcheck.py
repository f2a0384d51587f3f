"""Numerical gradient check of the hand-written backprop: centered finite differences.

For every checked entry ``p_j`` of every parameter tensor, in float64::

    n_j = (L(p + eps e_j) - L(p - eps e_j)) / (2 eps)          # centered difference
    rel_j = |a_j - n_j| / max(|a_j| + |n_j|, TINY)             # a_j: backprop's dL/dp_j

Defaults: ``eps = 1e-5`` (CS231n's h; torch.autograd.gradcheck uses 1e-6) and an entry passes
when ``rel_j <= threshold = 1e-5``. The course rule of thumb: around 1e-7 and below is right,
above 1e-4 is wrong; a broken derivative gives 1e-2 or more. Why 1e-5: the centered
difference's truncation error is ``eps^2 |L'''| / 6`` and its roundoff ``~ 1e-16 |L| / eps``;
their sum is smallest near ``eps ~ cbrt(1e-16) ~ 5e-6``, where both are ~1e-11 absolute (at
1e-6 roundoff alone is 1e-10: a 1e-5 relative error on a 1e-5 gradient). ``TINY = 1e-6``
floors the denominator, so entries whose true gradient is that small must agree to
``threshold * TINY`` absolute instead of counting as relative failures.

Kinks: an entry whose ``+-eps`` perturbation flips the sign of any pre-activation of an
activation with ``kinks`` (relu, leaky_relu, elu) or changes a side of the loss's
``kink_sides`` (a mae / huber residual's sign, huber's ``|r| <= delta``) is *kink-affected*:
the difference quotient straddles a point where the derivative jumps, so it is reported
separately and never counted as a failure.

``order=4`` uses the fourth-order difference
``(8 (L(p + eps) - L(p - eps)) - (L(p + 2 eps) - L(p - 2 eps))) / (12 eps)``; ``STRICT`` is the
test suite's setting (every entry, fourth order, refined where coarse), see its comment.

Dropout: every forward (analytic and perturbed) gets a fresh ``default_rng(dropout_seed)``, so
the mask is the same in all of them. Batch norm runs in training mode (batch statistics), the
mode backprop is used in. Large tensors are checked on a seeded random sample of entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlptrain.data.target_scaling import ScaledTargetLoss
    from mlptrain.nn.losses import Loss

DEFAULT_EPS = 1e-5
DEFAULT_THRESHOLD = 1e-5
TINY = 1e-6
DEFAULT_SAMPLES = 200
DEFAULT_BATCH = 16

# The test suite's setting (check_entries(problem, **STRICT)): the fourth-order centered
# difference at eps = 1e-4 in float64 has roundoff ~ 1.5 * 1e-16 * |L| / eps ~ 3e-12 * |L|
# (truncation ~ eps^4 is smaller), so for losses of a few units an entry is only resolved to
# ~1e-11 absolute; entries whose true gradient is below ~1e-4 (batch norm on 2 samples makes
# whole layers' gradients ~1e-10) cannot be checked relatively. With tiny = 1e-4 such entries
# must agree to threshold * tiny = 1e-10 absolute (ten times the roundoff) at threshold 1e-6;
# every larger entry to 1e-6 relative. (A floor of 1e-5 demanded 1e-11 and failed now and then
# on roundoff alone: an entry of -2.7415e-6 off by 1.2e-11.) Entries above refine_above are
# estimated again at eps / 8: a sharply curved loss (batch norm over three samples of nearly
# equal value) shrinks its truncation error 4096x while roundoff grows 8x; a wrong derivative
# is off at both steps.
STRICT: dict[str, Any] = {"eps": 1e-4, "order": 4, "tiny": 1e-4, "refine_above": 1e-7}


def rel_error(a: np.ndarray, n: np.ndarray, tiny: float = TINY) -> np.ndarray:
    """``|a - n| / max(|a| + |n|, tiny)`` elementwise."""
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


@dataclass
class Problem:
    """One network, batch and loss to check. X: (batch, n_in) float64; y: the loss's targets."""

    name: str
    net: Any  # MLP in float64
    X: np.ndarray
    y: np.ndarray
    loss_fn: Any
    sample_weight: np.ndarray | None = None
    training: bool = True
    dropout_seed: int = 0


@dataclass
class TensorCheck:
    """The result for one parameter tensor."""

    name: str
    shape: tuple[int, ...]
    checked: int  # entries compared (kink-affected ones excluded)
    kinks: int  # entries skipped because a step crossed a kink
    max_rel: float
    worst: tuple[int, ...] | None  # index of the largest relative error
    analytic: float | None  # at `worst`
    numeric: float | None

    def passed(self, threshold: float) -> bool:
        return bool(self.max_rel <= threshold)


@dataclass
class ComponentCheck:
    """All tensors of one problem."""

    name: str
    tensors: list[TensorCheck]

    @property
    def max_rel(self) -> float:
        return max((t.max_rel for t in self.tensors), default=0.0)

    @property
    def kinks(self) -> int:
        return sum(t.kinks for t in self.tensors)

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.tensors)


@dataclass
class GradcheckReport:
    """Every component checked, with the settings used."""

    components: list[ComponentCheck]
    eps: float
    threshold: float
    target: str | None = None
    notes: list[str] = field(default_factory=list)

    def component_passed(self, component: ComponentCheck) -> bool:
        return all(t.passed(self.threshold) for t in component.tensors)

    @property
    def passed(self) -> bool:
        return all(self.component_passed(c) for c in self.components)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.components if not self.component_passed(c)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "eps": self.eps, "threshold": self.threshold, "tiny": TINY,
            "passed": self.passed, "max_rel_error": max((c.max_rel for c in self.components),
                                                        default=0.0),
            "notes": self.notes,
            "components": [
                {"name": c.name, "passed": self.component_passed(c), "max_rel_error": c.max_rel,
                 "checked": c.checked, "kink_affected": c.kinks,
                 "tensors": [{**t.__dict__, "shape": list(t.shape),
                              "worst": None if t.worst is None else list(t.worst),
                              "passed": t.passed(self.threshold)} for t in c.tensors]}
                for c in self.components
            ],
        }


# ---- the check ------------------------------------------------------------------------------


def _loss_at(p: Problem) -> tuple[float, list[np.ndarray]]:
    """The loss with the current parameters, and which side of each kink every unit is on."""
    rng = np.random.default_rng(p.dropout_seed)  # the same dropout mask every time
    logits = p.net.forward(p.X, training=p.training, rng=rng)  # (batch, n_out)
    value = p.loss_fn.value(logits, p.y, sample_weight=p.sample_weight)
    return value, _regime(p, logits)


def _regime(p: Problem, logits: np.ndarray) -> list[np.ndarray]:
    """Bool masks: the sign of every kinked pre-activation (a > 0 iff z > 0 for relu, leaky_relu,
    elu) and the loss's own `kink_sides` (mae/huber residuals)."""
    net = p.net
    sides = [a > 0 for hl, a in zip(net.hidden, net.hidden_activations(), strict=True)
             if hl.act.kinks]
    return sides + p.loss_fn.kink_sides(logits, p.y)


def analytic_gradients(p: Problem) -> dict[str, np.ndarray]:
    """Backprop's gradients (copies) at the current parameters."""
    rng = np.random.default_rng(p.dropout_seed)
    logits = p.net.forward(p.X, training=p.training, rng=rng)
    _, dlogits = p.loss_fn.value_and_grad(logits, p.y, sample_weight=p.sample_weight)
    p.net.backward(dlogits)
    return {k: v.copy() for k, v in p.net.gradients().items()}


def finite_differences(p: Problem, flat: np.ndarray, idx: np.ndarray, eps: float = DEFAULT_EPS,
                       order: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Centered differences of the loss with respect to ``flat[j]`` for every j in `idx`
    (`flat`: a 1-D view of parameters, perturbed in place and restored), and for each whether
    a step crossed a kink. order 2: ``(L(+eps) - L(-eps)) / 2 eps``; order 4: see the module
    docstring."""
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    _, base = _loss_at(p)
    steps = (1, -1) if order == 2 else (1, -1, 2, -2)
    numeric = np.empty(idx.size)
    kink = np.zeros(idx.size, dtype=bool)
    for k, j in enumerate(idx):
        old = flat[j]
        values = []
        for m in steps:
            flat[j] = old + m * eps
            value, sides = _loss_at(p)
            values.append(value)
            kink[k] |= _crossed(base, sides)
        flat[j] = old
        if order == 2:
            numeric[k] = (values[0] - values[1]) / (2 * eps)
        else:
            numeric[k] = (8 * (values[0] - values[1]) - (values[2] - values[3])) / (12 * eps)
    return numeric, kink


def check_problem(p: Problem, eps: float = DEFAULT_EPS, samples: int = DEFAULT_SAMPLES,
                  seed: int = 0) -> ComponentCheck:
    """Compare backprop with centered differences on every tensor of `p.net` (sampled when a
    tensor has more than `samples` entries)."""
    _check_float64(p)
    grads = analytic_gradients(p)
    rng = np.random.default_rng(seed)
    tensors = []
    for name, param in p.net.parameters().items():
        flat = param.reshape(-1)  # a view: perturbing it changes the model
        idx = np.arange(flat.size) if flat.size <= samples else np.sort(
            rng.choice(flat.size, samples, replace=False))
        numeric, kink = finite_differences(p, flat, idx, eps)
        tensors.append(_tensor_result(name, param.shape, grads[name].reshape(-1)[idx], numeric,
                                      kink, idx))
    return ComponentCheck(p.name, tensors)


@dataclass
class EntryCheck:
    """Every entry of the flat parameter vector: backprop, finite differences, kink skips and
    relative errors (all 1-D, like ``net.params``)."""

    analytic: np.ndarray
    numeric: np.ndarray
    skipped: np.ndarray  # bool: a finite-difference step crossed a kink
    rel: np.ndarray

    @property
    def max_rel(self) -> float:
        ok = ~self.skipped
        return float(self.rel[ok].max()) if ok.any() else 0.0


def check_entries(p: Problem, eps: float = DEFAULT_EPS, order: int = 2, tiny: float = TINY,
                  refine_above: float | None = None) -> EntryCheck:
    """Every entry of ``p.net.params`` against finite differences; entries whose relative
    error exceeds `refine_above` are estimated again at ``eps / 8`` (see `STRICT`)."""
    _check_float64(p)
    rng = np.random.default_rng(p.dropout_seed)
    logits = p.net.forward(p.X, training=p.training, rng=rng)
    _, dlogits = p.loss_fn.value_and_grad(logits, p.y, sample_weight=p.sample_weight)
    p.net.backward(dlogits)
    analytic = p.net.grads.astype(np.float64)  # a copy, (n_params,)
    flat = p.net.params
    numeric, skipped = finite_differences(p, flat, np.arange(flat.size), eps, order)
    if refine_above is not None:
        again = np.flatnonzero((rel_error(analytic, numeric, tiny) > refine_above) & ~skipped)
        numeric[again], skipped[again] = finite_differences(p, flat, again, eps / 8, order)
    return EntryCheck(analytic, numeric, skipped, rel_error(analytic, numeric, tiny))


def _check_float64(p: Problem) -> None:
    if p.net.dtype != np.float64:
        raise ValueError(f"gradcheck needs a float64 network, got {p.net.dtype}")


def _crossed(base: list[np.ndarray], other: list[np.ndarray]) -> bool:
    return any(np.any(a != b) for a, b in zip(base, other, strict=True))


def _tensor_result(name, shape, analytic, numeric, kink, idx) -> TensorCheck:
    rel = rel_error(analytic, numeric)
    ok = ~kink
    if not ok.any():
        return TensorCheck(name, tuple(shape), 0, int(kink.sum()), 0.0, None, None, None)
    k = int(np.flatnonzero(ok)[np.argmax(rel[ok])])
    worst = tuple(int(i) for i in np.unravel_index(idx[k], shape))
    return TensorCheck(name, tuple(shape), int(ok.sum()), int(kink.sum()), float(rel[k]), worst,
                       float(analytic[k]), float(numeric[k]))


def run_checks(problems: list[Problem], eps: float = DEFAULT_EPS,
               threshold: float = DEFAULT_THRESHOLD, samples: int = DEFAULT_SAMPLES,
               target: str | None = None) -> GradcheckReport:
    """Check every problem; validates the settings first (ValueError naming the bad value)."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples!r}")
    components = [check_problem(p, eps, samples) for p in problems]
    return GradcheckReport(components, eps, threshold, target)


# ---- the built-in matrix --------------------------------------------------------------------


def random_targets(loss: str, output: str, n: int, width: int, rng: np.random.Generator,
                   soft: bool = False) -> np.ndarray:
    """Targets a loss accepts, drawn by the loss class itself (`Loss.sample_targets`): class
    ids (n,) for cross-entropy, 0/1 (n, width) for binary cross-entropy, values in (0, 1) for
    a sigmoid regression, N(0, 1) otherwise; probabilities when `soft`."""
    from mlptrain.nn import LOSSES

    return LOSSES[loss].sample_targets(output, n, width, rng, soft)


def _case(name: str, *, activation="tanh", loss="cross_entropy", output="softmax", hidden=(5, 4),
          n_out=3, batch=8, dropout=0.0, batchnorm=False, class_weight=None, soft=False,
          weighted=False, input_dropout=0.0, seed=0) -> Problem:
    from mlptrain.nn import MLP, get_loss

    rng = np.random.default_rng(seed)
    n_in = 4
    net = MLP([n_in, *hidden, n_out], activation=activation, output=output, dropout=dropout,
              batchnorm=batchnorm, input_dropout=input_dropout, seed=seed, dtype="float64")
    X = rng.standard_normal((batch, n_in))  # (batch, n_in)
    y = random_targets(loss, output, batch, n_out, rng)
    if soft:
        y = rng.dirichlet(np.ones(n_out), size=batch)  # probability rows (batch, n_out)
    kwargs = {} if class_weight is None else {"class_weight": np.asarray(class_weight)}
    weight = rng.uniform(0.5, 2.0, batch) if weighted else None
    return Problem(name, net, X, y, get_loss(loss, output=output, **kwargs), weight,
                   dropout_seed=seed)


def builtin_problems() -> list[Problem]:
    """Small float64 networks covering every activation, every loss/output pair, class and
    sample weights, soft targets, dropout, batch norm and no hidden layer at all."""
    from mlptrain.nn import ACTIVATIONS, COMPATIBLE_OUTPUTS

    problems = [_case(f"activation {a}", activation=a, seed=i)
                for i, a in enumerate(sorted(ACTIVATIONS.names()))]
    for i, (loss, outputs) in enumerate(sorted(COMPATIBLE_OUTPUTS.items())):
        for out in sorted(outputs):
            width = 3 if out == "softmax" else 2
            problems.append(_case(f"loss {loss} + {out}", loss=loss, output=out, n_out=width,
                                  seed=20 + i))
    problems += [
        _case("cross_entropy soft targets", soft=True, seed=30),
        _case("cross_entropy class weights", class_weight=[0.5, 1.0, 2.0], seed=31),
        _case("binary_cross_entropy class weights", loss="binary_cross_entropy",
              output="sigmoid", n_out=1, class_weight=[2.0, 0.5], seed=32),
        _case("sample weights", weighted=True, seed=33),
        _case("dropout 0.3 (fixed mask)", dropout=0.3, seed=34),
        _case("input dropout 0.2 + dropout 0.5", input_dropout=0.2, dropout=0.5, seed=39),
        _case("batch norm", batchnorm=True, seed=35),
        _case("batch norm + relu + dropout", activation="relu", batchnorm=True, dropout=0.2,
              seed=36),
        _case("no hidden layer (softmax regression)", hidden=(), seed=37),
        _case("deep relu", activation="relu", hidden=(6, 6, 6), seed=38),
    ]
    return problems


# ---- a config's or a checkpoint's own network -----------------------------------------------


def config_problem(cfg, random_data: bool = False, batch: int = DEFAULT_BATCH) -> Problem:
    """The config's architecture, loss and regularization, in float64, at initialization, on
    the first `batch` training samples (or random data of the same shape)."""
    from mlptrain.builders import adapt_targets, build_loss, build_model
    from mlptrain.config import validate_config
    from mlptrain.experiment import resolve_against_data

    raw = cfg.model_dump(mode="json")
    raw["model"]["dtype"] = "float64"
    cfg = validate_config(raw, source="config")
    bundle = _bundle(cfg, random_data, batch)
    cfg = resolve_against_data(cfg, bundle)
    bundle = adapt_targets(bundle, cfg.loss.kind)
    net = build_model(cfg, bundle)
    X, y = _batch(bundle.train.X, bundle.train.y, bundle.preprocessor, batch)
    if random_data:
        X, y = _random_batch(net, cfg, len(X))
    return Problem("config", net, X, y, build_loss(cfg, bundle), dropout_seed=cfg.seed)


def checkpoint_problem(target, random_data: bool = False, batch: int = DEFAULT_BATCH) -> Problem:
    """A checkpoint's network at its trained weights (cast to float64), on its own data."""
    from mlptrain.evaluation import load_model, load_split
    from mlptrain.nn import LOSSES, get_loss

    model = load_model(target, dtype="float64")
    cfg = model.cfg
    if random_data:
        X, y = _random_batch(model.net, cfg, batch)
        weights = cfg.loss.class_weight
        kwargs = {"class_weight": np.asarray(weights)} if isinstance(weights, list) else {}
        kwargs.update(LOSSES.kwargs_from(cfg.loss.kind, cfg.loss))
        loss_fn: Loss | ScaledTargetLoss = get_loss(cfg.loss.kind, output=cfg.model.output,
                                                   **kwargs)
    else:
        X_raw, y_raw, loss_fn = load_split(model, cfg, "train")
        X, y = _batch(X_raw, y_raw, model.preprocessor, batch)
    return Problem(f"checkpoint {model.path.name}", model.net, X, y, loss_fn,
                   dropout_seed=cfg.seed)


def _batch(X_raw, y, preprocessor, batch: int):
    n = min(batch, len(X_raw))
    return preprocessor.transform(X_raw[:n], dtype=np.float64), y[:n]


def _random_batch(net, cfg, batch: int):
    from mlptrain.streams import generator

    rng = generator(cfg.seed, "probe")
    X = rng.standard_normal((batch, net.layer_sizes[0]))  # (batch, n_in)
    return X, random_targets(cfg.loss.kind, cfg.model.output, batch, net.layer_sizes[-1], rng)


def _bundle(cfg, random_data: bool, batch: int):
    """The config's data; for a named image set with random data, no download: a stand-in."""
    from mlptrain.config.schema import IMAGE_SOURCES
    from mlptrain.data import IMAGE_SETS, DataBundle, Preprocessor, Split, load_data
    from mlptrain.streams import generator

    if not (random_data and cfg.data.source in IMAGE_SOURCES):
        return load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    image_set = IMAGE_SETS[cfg.data.source]
    names = list(image_set.class_names)
    rng = generator(cfg.seed, "stand_in")
    X = rng.integers(0, 256, (max(batch, len(names)), int(np.prod(image_set.image_shape))))
    X = X.astype(np.uint8)
    y = np.arange(len(X)) % len(names)  # every class present (balanced class weights)
    pre = Preprocessor.fit(X, "none", task="classification", n_outputs=len(names),
                           class_names=names)
    return DataBundle(Split(X, y), None, None, "classification", X.shape[1], len(names), names,
                      pre, cfg.data.source)


def run_gradcheck(target=None, overrides: list[str] | None = None, *, eps: float = DEFAULT_EPS,
                  threshold: float = DEFAULT_THRESHOLD, samples: int = DEFAULT_SAMPLES,
                  batch: int = DEFAULT_BATCH, random_data: bool = False) -> GradcheckReport:
    """No target: the built-in matrix. A YAML config: its network at initialization. A
    checkpoint or run directory: its network at the saved weights."""
    from pathlib import Path

    from mlptrain.config.paths import is_config_file
    from mlptrain.errors import ConfigError

    if batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {batch}")
    if target is not None and "=" in str(target) and not Path(target).exists():
        overrides, target = [str(target), *(overrides or [])], None  # an override, no target
    if target is None:
        if overrides:
            raise ConfigError("overrides need a CONFIG to apply to")
        problems, name = builtin_problems(), None
    elif is_config_file(target):
        from mlptrain.config import load_config

        problems, name = [config_problem(load_config(target, overrides or []), random_data,
                                         batch)], str(target)
    else:
        if overrides:
            raise ConfigError("overrides apply to a config, not to a checkpoint")
        problems, name = [checkpoint_problem(target, random_data, batch)], str(target)
    try:
        return run_checks(problems, eps, threshold, samples, name)
    except ValueError as err:
        raise ConfigError(str(err)) from None
