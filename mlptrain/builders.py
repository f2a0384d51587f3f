"""Config sections -> the objects they describe: model, loss, optimizer, schedule.

The only place where config names meet the registries of `nn/` and `optim/`, so that the
core stays usable without any config (the Python API) and the config stays plain data.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np


def build_model(cfg, bundle):
    """The MLP of `cfg.model` for this data's width and number of outputs."""
    from mlptrain.nn import MLP

    model = cfg.model
    activation = model.activation
    if isinstance(activation, list):
        activation = [_activation_spec(a, model.leaky_slope) for a in activation]
    else:
        activation = _activation_spec(activation, model.leaky_slope)
    init = model.init
    if init == "normal":
        init = {"name": "normal", "std": model.init_scale}
    elif init == "uniform":
        init = {"name": "uniform", "limit": model.init_scale}
    sizes = [bundle.n_features, *model.hidden, output_width(bundle, cfg.loss.kind)]
    check_model_memory(cfg, sizes)
    return MLP(sizes, activation=activation, output=model.output, init=init,
               bias_init=model.bias_init, dropout=model.dropout, batchnorm=model.batchnorm,
               input_dropout=model.input_dropout,
               seed=_init_seed(cfg.seed), dtype=model.dtype)


def check_model_memory(cfg, sizes: list[int]) -> None:
    """Refuse (ConfigError naming model.hidden) a model whose training state cannot fit."""
    from mlptrain.bounded import available_memory, check_memory, model_bytes
    from mlptrain.errors import ConfigError

    itemsize = np.dtype(cfg.model.dtype).itemsize
    batch = cfg.train.batch_size
    needed = model_bytes(sizes, itemsize, batch, cfg.optimizer.kind)
    free = available_memory()
    weights_only = model_bytes(sizes, itemsize, 1, cfg.optimizer.kind)
    key = "train.batch_size" if free is not None and weights_only <= free else "model.hidden"
    shape = " x ".join(str(s) for s in sizes)
    check_memory(needed, key, f"training a {shape} network with "
                 f"{cfg.optimizer.kind} (batch {cfg.train.batch_size})", ConfigError,
                 hint="use fewer or narrower hidden layers, or a smaller train.batch_size")


def _init_seed(seed: int) -> int:
    """The seed of the weight initialization, independent of the other streams of `seed`."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def _activation_spec(name: str, leaky_slope: float):
    return {"name": "leaky_relu", "negative_slope": leaky_slope} if name == "leaky_relu" else name


def output_width(bundle, loss_kind: str) -> int:
    """Output units: one per class for cross-entropy; one for a two-class problem with a
    single sigmoid (binary cross-entropy or the quadratic-loss neuron); else the targets' width."""
    if bundle.task == "classification" and loss_kind != "cross_entropy" and bundle.n_outputs == 2:
        return 1
    return bundle.n_outputs


def adapt_targets(bundle, loss_kind: str):
    """Class ids -> float targets when a classification task trains with a loss other than
    cross-entropy: a 0/1 column (n, 1) for two classes, one-hot rows (n, k) otherwise."""
    if bundle.task != "classification" or loss_kind == "cross_entropy":
        return bundle
    width = output_width(bundle, loss_kind)

    def convert(split):
        if split is None or split.y.ndim == 2:
            return split
        if width == 1:
            y = split.y.astype(np.float32).reshape(-1, 1)
        else:
            y = np.zeros((split.y.shape[0], width), np.float32)
            y[np.arange(split.y.shape[0]), split.y] = 1.0
        return replace(split, y=y)

    return replace(bundle, train=convert(bundle.train), val=convert(bundle.val),
                   test=convert(bundle.test))


def build_loss(cfg, bundle):
    """The loss of `cfg.loss`, with class weights resolved against the training labels; for
    regression with target scaling, computed on the scaled targets (`ScaledTargetLoss`)."""
    from mlptrain.nn.losses import balanced_class_weights, get_loss

    loss = cfg.loss
    kwargs = {}
    if loss.kind == "huber":
        kwargs["delta"] = loss.huber_delta
    weights = loss.class_weight
    if weights == "balanced":
        weights = balanced_class_weights(_class_ids(bundle.train.y), bundle.n_outputs)
        if output_width(bundle, loss.kind) == 1:
            weights = weights[:2]
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if bundle.task == "classification" and weights.shape[0] != bundle.n_outputs:
            from mlptrain.errors import ConfigError

            raise ConfigError(
                f"loss.class_weight has {weights.shape[0]} weights for {bundle.n_outputs} classes"
            )
        kwargs["class_weight"] = weights
    loss_fn = get_loss(loss.kind, output=cfg.model.output, **kwargs)
    scaling = getattr(bundle.preprocessor, "target_scaling", None)
    if scaling is None or bundle.task != "regression":
        return loss_fn
    if scaling.kind == "standard" and cfg.model.output == "sigmoid":
        from mlptrain.errors import ConfigError

        raise ConfigError(
            "data.target_scale: standard gives targets outside (0, 1), which a sigmoid output "
            "cannot reach; use data.target_scale: minmax (or none) with model.output: sigmoid"
        )
    from mlptrain.data.target_scaling import ScaledTargetLoss

    return ScaledTargetLoss(loss_fn, scaling)


def _class_ids(y: np.ndarray) -> np.ndarray:
    if y.ndim == 1:
        return y
    return (y[:, 0] >= 0.5).astype(np.int64) if y.shape[1] == 1 else np.argmax(y, axis=1)


def build_optimizer(cfg, net):
    """The optimizer of `cfg.optimizer` over the network's flat parameter vector: the
    registered class with its parameters read from the config section."""
    from mlptrain.optim import OPTIMIZERS

    opt = cfg.optimizer
    return OPTIMIZERS.create(opt.kind, **OPTIMIZERS.kwargs_from(opt.kind, opt),
                             decay_mask=net.decay_mask)


def build_schedule(cfg):
    """The learning-rate schedule of `cfg.schedule` around `cfg.optimizer.lr`."""
    from mlptrain.metrics import monitor_mode
    from mlptrain.optim import SCHEDULES

    s, lr, epochs = cfg.schedule, cfg.optimizer.lr, cfg.train.epochs
    kwargs = {
        "constant": {},
        "step": {"step_size": s.step_size, "gamma": s.gamma},
        "exponential": {"gamma": s.gamma},
        "cosine": {"epochs": epochs, "min_lr": s.min_lr, "warmup_epochs": s.warmup_epochs},
        "inverse_time": {"decay": s.decay, "power": s.power},
        "plateau": {"factor": s.factor, "patience": s.patience, "min_lr": s.min_lr,
                    "threshold": s.threshold, "mode": monitor_mode(s.monitor, s.mode)},
    }[s.kind]
    return SCHEDULES[_SCHEDULE_NAMES.get(s.kind, s.kind)](lr, **kwargs)


_SCHEDULE_NAMES = {"plateau": "reduce_on_plateau"}
