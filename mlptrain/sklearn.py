"""scikit-learn estimators on mlptrain's core: `MLPClassifier` and `MLPRegressor`.

Drop-ins for `sklearn.neural_network.MLPClassifier` / `MLPRegressor`: the constructor takes
scikit-learn's parameters with their names and defaults, and they mean the same (change the
import line, keep the code); mlptrain's extras follow (dropout, batch norm, initializer, loss,
schedule, clipping, more solvers). `fit` / `partial_fit` train in memory through mlptrain's
`Trainer` (no run directory): one Trainer epoch is one scikit-learn iteration.

What scikit-learn's parameters become (scikit-learn 1.9's `_multilayer_perceptron.py`):

- the objective of a mini-batch B, with sample weights s (1 when not given)::

      J_B = sum_{i in B} s_i l_i / sum_{i in B} s_i  +  alpha / (2 sum_{i in B} s_i) * ||W||^2

  l_i: log-loss (softmax: cross-entropy; binary and multilabel: the sum over the sigmoid
  outputs of the binary cross-entropy) or half the squared error averaged over the targets
  (regression, loss="squared_error"); W: every dense weight, no bias. alpha is NOT mlptrain's
  `optimizer.weight_decay`: that one adds ``weight_decay * W`` to the gradient of the mean
  loss (coupled L2, no 1/2, no division by the batch), so each batch's step runs with
  ``weight_decay = alpha / sum_{i in B} s_i`` (``alpha / batch_size`` without weights; the
  last, partial batch gets its own). solver="lbfgs": B is the whole set. `loss_` and
  `loss_curve_` are J averaged over the epoch's batches weighted by their sizes, as
  scikit-learn's.
- batch_size="auto" is min(200, n_samples); larger values are clipped to n_samples (warned).
- learning_rate (sgd only): "constant"; "invscaling" sets lr = learning_rate_init /
  (t_ + 1) ** power_t after each iteration (t_: samples seen); "adaptive" divides lr by 5
  when the loss (or validation score) stalls and stops once lr <= 1e-6.
- convergence (sgd, adam): an iteration that does not lower the training loss by tol below
  the best (with early_stopping: does not raise the validation score by tol above the best)
  counts; more than n_iter_no_change such iterations in a row stop training. early_stopping
  holds out validation_fraction (stratified for single-output classifiers), scores it with
  `score` (accuracy, R^2) and restores the best weights at the end. max_iter iterations
  without converging warn `ConvergenceWarning`.
- initialisation: xavier_uniform, U(+-sqrt(6 / (fan_in + fan_out))) for weights as
  scikit-learn's (which uses sqrt(2 / ...) for logistic), biases 0 (scikit-learn draws them
  from the same uniform). Random draws come from generators seeded by random_state, so the
  numbers differ from scikit-learn's while their distributions agree.
- solver="lbfgs" is mlptrain's full-batch L-BFGS (`optim/lbfgs.py`): max_iter iterations,
  max_fun loss evaluations, and convergence when max |gradient| <= tol.

The network's dtype follows X: float32 stays float32, anything else becomes float64.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, TypeGuard

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SOLVERS = (*STOCHASTIC_SOLVERS, "lbfgs")
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "sigmoid": "sigmoid", "leaky_relu": "leaky_relu", "elu": "elu",
               "softplus": "softplus", "gelu": "gelu"}
REGRESSION_LOSSES = {"squared_error": "mse", "absolute_error": "mae", "huber": "huber"}
ADAPTIVE_FACTOR, ADAPTIVE_MIN_LR = 5.0, 1e-6  # scikit-learn's SGDOptimizer.trigger_stopping


class _LearningRate:
    """The schedule the Trainer asks each step: scikit-learn's lr, set between iterations."""

    def __init__(self, lr: float):
        self.lr = float(lr)

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        return self.lr

    def end_epoch(self, value) -> None:
        pass

    def state_dict(self) -> dict:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        self.lr = float(state["lr"])


class _Objective:
    """scikit-learn's batch objective: `factor * loss` (half squared error; the log-loss
    summed over sigmoid outputs), plus, for the mini-batch solvers, the batch's L2 term
    ``alpha / (2 sum(s)) ||W||^2``: each call sets the optimizer's weight_decay to
    ``alpha / sum(s)`` for the step that follows (s: the batch's sample weights, or 1s).
    lbfgs adds its (whole-set) L2 term itself (`optimizer=None` here)."""

    def __init__(self, loss, factor: float, net, optimizer=None, alpha: float = 0.0):
        self.loss, self.factor, self.net = loss, float(factor), net
        self.optimizer, self.alpha = optimizer, float(alpha)

    def value(self, logits, y, sample_weight=None) -> float:
        return self.factor * self.loss.value(logits, y, sample_weight=sample_weight)

    def value_and_grad(self, logits, y, sample_weight=None):
        value, grad = self.loss.value_and_grad(logits, y, sample_weight=sample_weight)
        if self.factor != 1.0:
            grad *= self.factor
        value *= self.factor
        if self.optimizer is not None:
            total = len(logits) if sample_weight is None else float(np.sum(sample_weight))
            self.optimizer.weight_decay = self.alpha / total
            value += l2_term(self.net, self.optimizer.weight_decay)
        return value, grad


def l2_term(net, weight_decay: float) -> float:
    """``weight_decay / 2 * ||W||^2`` over the decayed entries (dense weights)."""
    p = net.params.astype(np.float64)
    return 0.5 * weight_decay * float(np.dot(p * net.decay_mask, p))


def _stochastic(est) -> bool:
    """partial_fit exists for the mini-batch solvers only (as in scikit-learn)."""
    if est.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                             f"{est.solver} is not stochastic.")
    return True


def _integral(value: Any) -> TypeGuard[int]:
    """A Python or NumPy integer (typed int: typeshed's numbers ABCs declare no comparisons)."""
    return isinstance(value, Integral)


def _real(value: Any) -> TypeGuard[float]:
    """A Python or NumPy real number (typed float, as `_integral`)."""
    return isinstance(value, Real)


def _check_params(est) -> None:
    """scikit-learn's parameter constraints, with the parameter named in the message."""

    def need(ok: bool, name: str, allowed: str) -> None:
        if not ok:
            raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be "
                             f"{allowed}. Got {getattr(est, name)!r} instead.")

    sizes = est.hidden_layer_sizes
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    need(all(_integral(s) and not isinstance(s, bool) and s > 0 for s in sizes),
         "hidden_layer_sizes", "positive integers")
    need(est.activation in ACTIVATIONS, "activation", f"one of {sorted(ACTIVATIONS)}")
    need(est.solver in SOLVERS, "solver", f"one of {list(SOLVERS)}")
    positive = {"alpha": (0, True), "learning_rate_init": (0, False), "power_t": (0, True),
                "tol": (0, True), "epsilon": (0, False)}
    for name, (low, closed) in positive.items():
        value = getattr(est, name)
        need(_real(value) and not isinstance(value, bool) and np.isfinite(value)
             and (value >= low if closed else value > low), name,
             f"a float {'>=' if closed else '>'} {low}")
    batch = est.batch_size
    need(batch == "auto" or (_integral(batch) and not isinstance(batch, bool)
                             and batch >= 1), "batch_size", "'auto' or an int >= 1")
    need(est.learning_rate in ("constant", "invscaling", "adaptive"), "learning_rate",
         "'constant', 'invscaling' or 'adaptive'")
    for name in ("max_iter", "max_fun"):
        value = getattr(est, name)
        need(_integral(value) and not isinstance(value, bool) and value >= 1,
             name, "an int >= 1")
    no_change = est.n_iter_no_change
    need(no_change == np.inf or (_integral(no_change) and no_change >= 1),
         "n_iter_no_change", "an int >= 1 or np.inf")
    need(_real(est.momentum) and 0 <= est.momentum < 1, "momentum", "in [0, 1)")
    for name in ("beta_1", "beta_2", "validation_fraction"):
        value = getattr(est, name)
        need(_real(value) and 0 <= value < 1, name, "in [0, 1)")


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, training loop, convergence."""

    _is_classifier = False
    # fitted by the mini-batch solvers (scikit-learn's names; None where it has None)
    loss_curve_: list[float]
    validation_scores_: list[float] | None  # None without early_stopping
    best_validation_score_: float | None  # None without early_stopping
    best_loss_: float | None  # None with early_stopping

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        input_dropout=0.0,
        batch_norm=False,
        init="xavier_uniform",
        schedule=None,
        clip_norm=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.batch_norm = batch_norm
        self.init = init
        self.schedule = schedule
        self.clip_norm = clip_norm

    # ---- public API ---------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features) and y; returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Dense weights per layer, (fan_in, fan_out) views of the network's parameters."""
        check_is_fitted(self, "_net")
        params = self._net.parameters()
        return [params[f"layers.{i}.weight"] for i in range(len(self._net.layer_sizes) - 1)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases per layer (fan_out,); not defined with batch_norm (hidden layers have none)."""
        check_is_fitted(self, "_net")
        params = self._net.parameters()
        names = [f"layers.{i}.bias" for i in range(len(self._net.layer_sizes) - 1)]
        if any(name not in params for name in names):
            raise AttributeError("intercepts_: with batch_norm=True the hidden layers have no "
                                 "bias (batch norm's shift takes its place)")
        return [params[name] for name in names]

    # ---- training ------------------------------------------------------------------------------

    def _fit(self, X, y, sample_weight, incremental: bool):
        _check_params(self)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "_net") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        targets = self._encode(y).astype(X.dtype)  # (n, n_outputs)
        if first_pass:
            self._initialize(X, targets)
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[1]} outputs, the network was built for "
                             f"{self.n_outputs_}")
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, y, targets, sample_weight)
        else:
            self._fit_stochastic(X, y, targets, sample_weight, incremental)
        if not np.all(np.isfinite(self._net.params)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _seed(self) -> int:
        """The seed of this fit's generators: random_state's, or fresh entropy for None."""
        state = self.random_state
        if state is None:
            return int(np.random.SeedSequence().generate_state(1)[0])
        if isinstance(state, np.random.RandomState):
            return int(state.randint(np.iinfo(np.int32).max))
        if isinstance(state, np.random.Generator):
            return int(state.integers(np.iinfo(np.int32).max))
        return int(state)

    def _config(self, X: np.ndarray, task: str, loss_kind: str, output: str, seed: int):
        """The mlptrain config of this estimator (validated: extras get its checks)."""
        from mlptrain.config import validate_config
        from mlptrain.errors import ConfigError

        sizes = self.hidden_layer_sizes
        hidden = [int(s) for s in (sizes if hasattr(sizes, "__iter__") else [sizes])]
        lbfgs = self.solver == "lbfgs"
        raw = {
            "seed": seed,
            "data": {"source": "npz", "path": "<arrays>", "task": task, "scale": "none",
                     "target_scale": "none", "val_fraction": 0.0, "test_fraction": 0.0},
            "model": {"hidden": hidden, "activation": ACTIVATIONS[self.activation],
                      "output": output, "init": self.init, "dropout": self.dropout,
                      "input_dropout": self.input_dropout, "batchnorm": bool(self.batch_norm),
                      "dtype": str(X.dtype)},
            "loss": {"kind": loss_kind},
            "optimizer": {"kind": self.solver, "lr": 1.0 if lbfgs else self.learning_rate_init,
                          "momentum": self.momentum,
                          "nesterov": bool(self.nesterovs_momentum and self.momentum > 0),
                          "betas": [self.beta_1, self.beta_2], "eps": self.epsilon,
                          "clip_norm": self.clip_norm},
            "schedule": dict(self.schedule) if self.schedule else {"kind": "constant"},
            "train": {"epochs": self.max_iter, "shuffle": bool(self.shuffle),
                      "divergence_factor": 1e300, "checkpoint": {"monitor": "train_loss"}},
        }
        try:
            return validate_config(raw, source=type(self).__name__)
        except ConfigError as err:
            raise ValueError(f"{type(self).__name__}: {err.message}") from None

    def _initialize(self, X: np.ndarray, targets: np.ndarray) -> None:
        """Build the network, loss, optimizer and generators; reset the fitted attributes."""
        from mlptrain.builders import build_loss, build_model, build_optimizer, build_schedule
        from mlptrain.streams import generator, seed_sequence

        task, loss_kind, output, factor = self._objective(targets)
        seed = self._seed()
        self._cfg = self._config(X, task, loss_kind, output, seed)
        bundle = self._bundle(X, targets, None)
        self._net = build_model(self._cfg, bundle)
        self._optimizer = build_optimizer(self._cfg, self._net)
        stochastic = None if self.solver == "lbfgs" else self._optimizer
        self._loss = _Objective(build_loss(self._cfg, bundle), factor, self._net, stochastic,
                                self.alpha)
        self._schedule = (build_schedule(self._cfg) if self.schedule
                          else _LearningRate(self._cfg.optimizer.lr))
        self._rngs = {name: generator(seed, name) for name in ("shuffle", "dropout")}
        # early_stopping's hold-out is the run's "split" stream (train_test_split takes an int)
        self._split_seed = int(seed_sequence(seed, "split").generate_state(1)[0])
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = targets.shape[1]
        self.n_layers_ = len(self._net.layer_sizes)
        self.out_activation_ = {"softmax": "softmax", "sigmoid": "logistic"}.get(output, output)
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = self.best_validation_score_ = None

    def _bundle(self, X, targets, sample_weight):
        """The data as the Trainer reads it: unscaled features, encoded targets, weights."""
        from mlptrain.builders import adapt_targets
        from mlptrain.data import DataBundle, Preprocessor, Split

        task = self._cfg.data.task
        n_outputs = 2 if self._binary else targets.shape[1]
        y = targets[:, 0].astype(np.int64) if self._binary else targets
        if task == "classification" and not self._binary:
            y = np.argmax(targets, axis=1)  # (n,) class ids for cross-entropy
        pre = Preprocessor.fit(X[:1], "none", task=task, n_outputs=n_outputs)
        bundle = DataBundle(train=Split(X, y, sample_weight), val=None, test=None, task=task,
                            n_features=X.shape[1], n_outputs=n_outputs, class_names=None,
                            preprocessor=pre, source="arrays")
        return adapt_targets(bundle, self._cfg.loss.kind)

    def _trainer(self, X, targets, sample_weight, batch_size: int):
        """A Trainer over this data with the estimator's network, loss, optimizer, schedule
        and generators (kept across fits); nothing is written (NoCallbacks)."""
        from mlptrain.training import Trainer

        self._cfg.train.batch_size = batch_size
        return Trainer(cfg=self._cfg, bundle=self._bundle(X, targets, sample_weight),
                       net=self._net, loss_fn=self._loss, optimizer=self._optimizer,
                       schedule=self._schedule, shuffle_rng=self._rngs["shuffle"],
                       dropout_rng=self._rngs["dropout"])

    def _one_iteration(self, trainer) -> float:
        """One Trainer epoch; returns its training loss (the batches' objectives averaged,
        weighted by their sizes, as scikit-learn's loss_)."""
        from mlptrain.errors import DivergenceError

        trainer.cfg.train.epochs = trainer.state.epoch + 1
        try:
            trainer.fit()
        except DivergenceError:  # a NaN or infinite loss: scikit-learn fails after fit
            return float("nan")
        return float(trainer.last_row["train_loss"])

    def _fit_stochastic(self, X, y, targets, sample_weight, incremental: bool) -> None:
        X_val = y_val = sw_val = None
        if self.early_stopping:
            X, X_val, targets, y_val, sample_weight, sw_val = self._validation_split(
                X, y, targets, sample_weight)
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        if batch > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped", stacklevel=3)
        batch = int(np.clip(batch, 1, n))
        trainer = self._trainer(X, targets, sample_weight, batch)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            self.loss_ = self._one_iteration(trainer)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement_count(X_val, y_val, sw_val)
            if self.solver == "sgd" and self.learning_rate == "invscaling" and not self.schedule:
                self._schedule.lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                if not self._reduce_lr_or_stop():
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              "reached and the optimization hasn't converged yet.",
                              ConvergenceWarning, stacklevel=3)
        if self.early_stopping:
            self._net.load_state_arrays(self._best_state)

    def _reduce_lr_or_stop(self) -> bool:
        """After a stall: True to go on with lr / 5 (sgd, learning_rate="adaptive")."""
        adaptive = (self.solver == "sgd" and self.learning_rate == "adaptive"
                    and not self.schedule)
        if not adaptive or self._schedule.lr <= ADAPTIVE_MIN_LR:
            return False
        self._schedule.lr /= ADAPTIVE_FACTOR
        return True

    def _validation_split(self, X, y, targets, sample_weight):
        stratify = y if self._is_classifier and self.n_outputs_ == 1 else None
        arrays = [X, y, targets] + ([] if sample_weight is None else [sample_weight])
        parts = train_test_split(*arrays, random_state=self._split_seed,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, _, y_val, t_train, _ = parts[:6]
        sw_train, sw_val = (parts[6], parts[7]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X_train, X_val, t_train, y_val, sw_train, sw_val

    def _update_no_improvement_count(self, X_val, y_val, sw_val) -> None:
        """scikit-learn's rule: an iteration that does not beat the best by tol counts."""
        if self.early_stopping:
            assert self.validation_scores_ is not None and self.best_validation_score_ is not None
            predicted = self._predict_values(X_val)
            score = (np.nan if predicted.dtype.kind == "f" and not np.isfinite(predicted).all()
                     else self._score_function(y_val, predicted, sample_weight=sw_val))
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_state = {k: v.copy() for k, v in self._net.state_arrays().items()}
            elif not hasattr(self, "_best_state"):
                self._best_state = {k: v.copy() for k, v in self._net.state_arrays().items()}
        else:
            assert self.best_loss_ is not None  # inf at the start without early_stopping
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _fit_lbfgs(self, X, y, targets, sample_weight) -> None:
        from mlptrain.optim.lbfgs import LBFGS

        optimizer = self._optimizer
        assert isinstance(optimizer, LBFGS)  # what build_optimizer builds for solver="lbfgs"
        n = X.shape[0]
        total = float(n if sample_weight is None else np.sum(sample_weight))
        optimizer.weight_decay = self.alpha / total
        trainer = self._trainer(X, targets, sample_weight, n)
        self.n_iter_ = 0
        converged = False
        for _ in range(self.max_iter):
            loss = self._one_iteration(trainer)
            self.n_iter_ += 1
            self.t_ += n
            if not np.isfinite(loss) or optimizer.converged(self.tol):
                converged = True
                break
            if optimizer.evals >= self.max_fun:
                break
        self.loss_ = optimizer.loss
        if not converged:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(max_iter={self.max_iter}, max_fun={self.max_fun}, "
                          f"{optimizer.evals} loss evaluations).\nIncrease the number "
                          "of iterations to improve the convergence.",
                          ConvergenceWarning, stacklevel=3)

    # ---- prediction ---------------------------------------------------------------------------

    def _outputs(self, X) -> np.ndarray:
        """Network outputs (n, n_outputs) in eval mode: probabilities or values."""
        from mlptrain.metrics import batches

        check_is_fitted(self, "_net")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        X = X.astype(self._net.dtype, copy=False)
        out = np.empty((X.shape[0], self._net.layer_sizes[-1]), dtype=self._net.dtype)
        for part in batches(X.shape[0]):
            out[part] = self._net.output(self._net.forward(X[part], training=False))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's `MLPClassifier` on mlptrain's core.

    Softmax and cross-entropy for several classes; one sigmoid unit and binary cross-entropy
    for two; independent sigmoid units for a multilabel indicator y. See the module docstring
    for the parameters; the extras are dropout (after each hidden activation), input_dropout,
    batch_norm (before each hidden activation), init (mlptrain's initializer names), schedule
    (an mlptrain schedule section such as {"kind": "cosine"}, replacing learning_rate),
    clip_norm (global gradient norm) and the solvers adamw, rmsprop and adagrad.

    Fitted attributes as scikit-learn's: classes_, loss_, loss_curve_, best_loss_,
    validation_scores_, best_validation_score_, n_iter_, t_, n_layers_, n_outputs_,
    out_activation_, coefs_, intercepts_, n_features_in_, feature_names_in_.
    """

    _is_classifier = True

    def _objective(self, targets):
        """(task, loss, output, factor) for the binarized targets (n, k)."""
        if self._label_binarizer.y_type_ == "multiclass":
            self._binary = False
            return "classification", "cross_entropy", "softmax", 1.0
        if self._label_binarizer.y_type_.startswith("multilabel"):
            self._binary = False
            return "multilabel", "binary_cross_entropy", "sigmoid", float(targets.shape[1])
        self._binary = True
        return "classification", "binary_cross_entropy", "sigmoid", 1.0

    def _encode(self, y) -> np.ndarray:
        targets = self._label_binarizer.transform(y)
        return targets.reshape(len(targets), -1)  # (n, k) 0/1

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            if len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, y

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One iteration over X, y. `classes` (every class of all calls) on the first call."""
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            if not first and not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {self.classes_!r}")
            if first:
                self._label_binarizer = LabelBinarizer()
                target_type = type_of_target(y)
                self._label_binarizer.fit(y if target_type.startswith("multilabel")
                                          else classes)
                self.classes_ = self._label_binarizer.classes_
        return self._fit(X, y, sample_weight, incremental=True)

    def _predict_values(self, X) -> np.ndarray:
        outputs = self._outputs(X)
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
        return self._label_binarizer.inverse_transform(outputs)

    def _score_function(self, y, predicted, sample_weight=None) -> float:
        return accuracy_score(y, predicted, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Class labels (n,) (or a (n, n_classes) indicator for multilabel)."""
        return self._predict_values(X)

    def predict_proba(self, X) -> np.ndarray:
        """(n, n_classes) probabilities in `classes_` order."""
        outputs = self._outputs(X)
        if self.n_outputs_ == 1:
            p = outputs.ravel()
            return np.vstack([1 - p, p]).T
        return outputs

    def predict_log_proba(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's `MLPRegressor` on mlptrain's core.

    An identity output; loss "squared_error" (half the squared error, as scikit-learn's), or
    mlptrain's "absolute_error" and "huber" (scikit-learn's "poisson" is not supported). The
    other parameters and extras are `MLPClassifier`'s.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, input_dropout=0.0, batch_norm=False, init="xavier_uniform",
                 schedule=None, clip_norm=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, input_dropout=input_dropout, batch_norm=batch_norm, init=init,
            schedule=schedule, clip_norm=clip_norm)
        self.loss = loss

    _binary = False

    def _objective(self, targets):
        if self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"The 'loss' parameter of MLPRegressor must be one of "
                             f"{sorted(REGRESSION_LOSSES)}. Got {self.loss!r} instead.")
        factor = 0.5 if self.loss == "squared_error" else 1.0
        return "regression", REGRESSION_LOSSES[self.loss], "identity", factor

    def _encode(self, y) -> np.ndarray:
        return y.reshape(len(y), -1)  # (n, k)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One iteration over X, y."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _predict_values(self, X) -> np.ndarray:
        outputs = self._outputs(X)
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def _score_function(self, y, predicted, sample_weight=None) -> float:
        return r2_score(y, predicted, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted values (n,) for one target, (n, n_targets) for several."""
        return self._predict_values(X)
