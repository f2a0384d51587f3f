"""A Trainer's full state into a checkpoint, and back: what resuming needs.

`trainer_checkpoint` gathers the weights, the optimizer state, the fitted preprocessor and
the loop's counters, monitors, schedule and RNG states; `restore_trainer` loads them into a
Trainer freshly built from the checkpoint's config, strictly (a missing entry, a shape or a
type that does not match is a `CheckpointError` naming the file).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlptrain import __version__
from mlptrain.checkpoint.file import Checkpoint, load_checkpoint
from mlptrain.errors import CheckpointError

if TYPE_CHECKING:
    from mlptrain.nn.network import MLP
    from mlptrain.training import Trainer


def trainer_checkpoint(trainer: Trainer, cfg_dict: dict[str, Any],
                       data_info: dict[str, Any]) -> Checkpoint:
    """Everything needed to evaluate, predict with, or resume this run.

    cfg_dict: the resolved config as JSON; data_info: `DataBundle.describe()`.
    """
    tensors = {f"model.{k}": v for k, v in trainer.net.state_arrays().items()}
    opt_state = trainer.optimizer.state_dict()
    tensors.update({f"optimizer.{k}": v for k, v in opt_state["arrays"].items()})
    prep_state = dict(trainer.bundle.preprocessor.state_dict())
    tensors.update({f"preprocessor.{k}": v for k, v in prep_state.pop("arrays").items()})
    meta = {
        "mlptrain_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": cfg_dict,
        "model": trainer.net.get_config(),
        "task": trainer.bundle.task,
        "class_names": trainer.bundle.class_names,
        "data": data_info,
        "preprocessor": prep_state,
        "optimizer": opt_state["scalars"],
        "trainer": trainer.state_meta(),
    }
    return Checkpoint(tensors=tensors, meta=meta)


def restore_trainer(trainer: Trainer, checkpoint: Checkpoint, path: Path) -> None:
    """Load weights, optimizer, schedule, counters and RNG states into `trainer` (strict)."""
    from mlptrain.metadata_checks import check_loop_state
    from mlptrain.training import LoopState

    try:
        check_loop_state(checkpoint.meta["trainer"]["loop"], LoopState, path)
        trainer.net.load_state_arrays(checkpoint.group("model"))
        trainer.optimizer.load_state_dict(
            {"arrays": checkpoint.group("optimizer"), "scalars": checkpoint.meta["optimizer"]}
        )
        trainer.restore_meta(checkpoint.meta["trainer"])
    except KeyError as err:
        raise CheckpointError(f"is incomplete: its metadata has no {err.args[0]!r} entry",
                              path=path) from None
    except (ValueError, TypeError, OverflowError, AttributeError, IndexError) as err:
        raise CheckpointError(f"does not match this run's model or state: {err}", path=path) from None
    if not 0 <= trainer.state.batch_in_epoch < trainer.steps_per_epoch:
        raise CheckpointError(
            f"trainer.loop.batch_in_epoch is {trainer.state.batch_in_epoch}, but an epoch of this "
            f"run has {trainer.steps_per_epoch} batches", path=path)


def restore_weights(net: MLP, path: Path) -> None:
    """Load the model weights (and batch-norm buffers) of the checkpoint file at `path`."""
    net.load_state_arrays(load_checkpoint(path).group("model"))
