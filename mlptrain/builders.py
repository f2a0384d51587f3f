"""Config sections -> the objects they describe: model, loss, optimizer, schedule.

The only place where config names meet the registries of `nn/` and `optim/`, so that the
core stays usable without any config (the Python API) and the config stays plain data.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.registry import Registry

if TYPE_CHECKING:
    from mlptrain.config.schema import ExperimentConfig
    from mlptrain.data import DataBundle, Split
    from mlptrain.data.target_scaling import ScaledTargetLoss
    from mlptrain.nn import MLP
    from mlptrain.nn.losses import Loss
    from mlptrain.optim import Optimizer, Schedule


def build_model(cfg: ExperimentConfig, bundle: DataBundle) -> MLP:
    """The MLP of `cfg.model` for this data's width and number of outputs; each activation
    and the initializer get the parameters their registries read from the model section."""
    from mlptrain.nn import ACTIVATIONS, INITIALIZERS, MLP
    from mlptrain.streams import init_seed  # the `init` stream of the seed

    model = cfg.model
    activation = model.activation
    if isinstance(activation, list):
        activation = [_spec(ACTIVATIONS, a, model) for a in activation]
    else:
        activation = _spec(ACTIVATIONS, activation, model)
    init = model.init if model.init == "auto" else _spec(INITIALIZERS, model.init, model)
    sizes = [bundle.n_features, *model.hidden, output_width(bundle, cfg.loss.kind)]
    check_model_memory(cfg, sizes)
    return MLP(sizes, activation=activation, output=model.output, init=init,
               bias_init=model.bias_init, dropout=model.dropout, batchnorm=model.batchnorm,
               input_dropout=model.input_dropout,
               seed=init_seed(cfg.seed), dtype=model.dtype)


def _spec(registry: Registry[Any], name: str, section: Any) -> str | dict[str, Any]:
    """``name``, or ``{"name": name, **its parameters from the config section}``."""
    kwargs = registry.kwargs_from(name, section)
    return {"name": name, **kwargs} if kwargs else name


def check_model_memory(cfg: ExperimentConfig, sizes: list[int]) -> None:
    """Refuse (ConfigError naming model.hidden) a model whose training state cannot fit."""
    from mlptrain.bounded import available_memory, check_memory, model_bytes
    from mlptrain.errors import ConfigError
    from mlptrain.optim import OPTIMIZERS

    itemsize = np.dtype(cfg.model.dtype).itemsize
    batch = cfg.train.batch_size
    kind = cfg.optimizer.kind
    slots = OPTIMIZERS[kind].memory_slots(**OPTIMIZERS.kwargs_from(kind, cfg.optimizer))
    needed = model_bytes(sizes, itemsize, batch, slots)
    free = available_memory()
    weights_only = model_bytes(sizes, itemsize, 1, slots)
    key = "train.batch_size" if free is not None and weights_only <= free else "model.hidden"
    shape = " x ".join(str(s) for s in sizes)
    check_memory(needed, key, f"training a {shape} network with "
                 f"{cfg.optimizer.kind} (batch {cfg.train.batch_size})", ConfigError,
                 hint="use fewer or narrower hidden layers, or a smaller train.batch_size")


def _takes_class_ids(loss_kind: str) -> bool:
    from mlptrain.nn.losses import LOSSES

    return loss_kind in LOSSES and LOSSES[loss_kind].takes_class_ids


def output_width(bundle: DataBundle, loss_kind: str) -> int:
    """Output units: one per class for a loss on class ids (cross-entropy); one for a
    two-class problem with a single sigmoid (binary cross-entropy or the quadratic-loss
    neuron); else the targets' width."""
    if bundle.task == "classification" and not _takes_class_ids(loss_kind) and (
        bundle.n_outputs == 2
    ):
        return 1
    return bundle.n_outputs


def adapt_targets(bundle: DataBundle, loss_kind: str) -> DataBundle:
    """Class ids -> float targets when a classification task trains with a loss that does not
    take class ids: a 0/1 column (n, 1) for two classes, one-hot rows (n, k) otherwise."""
    if bundle.task != "classification" or _takes_class_ids(loss_kind):
        return bundle
    width = output_width(bundle, loss_kind)

    def convert(split: Split) -> Split:
        if split.y.ndim == 2:
            return split
        if width == 1:
            y = split.y.astype(np.float32).reshape(-1, 1)
        else:
            y = np.zeros((split.y.shape[0], width), np.float32)
            y[np.arange(split.y.shape[0]), split.y] = 1.0
        return replace(split, y=y)

    return replace(bundle, train=convert(bundle.train),
                   val=None if bundle.val is None else convert(bundle.val),
                   test=None if bundle.test is None else convert(bundle.test))


def build_loss(cfg: ExperimentConfig, bundle: DataBundle) -> Loss | ScaledTargetLoss:
    """The loss of `cfg.loss`, with class weights resolved against the training labels; for
    regression with target scaling, computed on the scaled targets (`ScaledTargetLoss`)."""
    from mlptrain.nn.losses import LOSSES, balanced_class_weights, get_loss

    loss = cfg.loss
    kwargs: dict[str, Any] = LOSSES.kwargs_from(loss.kind, loss)
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


def build_optimizer(cfg: ExperimentConfig, net: MLP) -> Optimizer:
    """The optimizer of `cfg.optimizer` over the network's flat parameter vector: the
    registered class with its parameters read from the config section."""
    from mlptrain.optim import OPTIMIZERS

    opt = cfg.optimizer
    return OPTIMIZERS.create(opt.kind, **OPTIMIZERS.kwargs_from(opt.kind, opt),
                             decay_mask=net.decay_mask)


def build_schedule(cfg: ExperimentConfig) -> Schedule:
    """The learning-rate schedule of `cfg.schedule` around `cfg.optimizer.lr`: the registered
    class with its parameters read from the config section (and `epochs`, the training
    length, for a schedule whose constructor takes it)."""
    from mlptrain.optim import SCHEDULES

    s = cfg.schedule
    context = {"epochs": cfg.train.epochs}
    entry = SCHEDULES.entry(s.kind)
    kwargs = {**{k: v for k, v in context.items() if entry.accepts(k)},
              **SCHEDULES.kwargs_from(s.kind, s)}
    return SCHEDULES.create(s.kind, cfg.optimizer.lr, **kwargs)
