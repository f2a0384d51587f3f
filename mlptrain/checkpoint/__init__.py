"""Checkpoints, both ways: the one place that knows what a checkpoint file holds.

    file.py    the container: one `.safetensors` file of named tensors plus a JSON document,
               written atomically, read strictly (`save_checkpoint`, `load_checkpoint`)
    state.py   a Trainer -> a `Checkpoint` (`trainer_checkpoint`) and back into a Trainer
               built from the same config (`restore_trainer`, `restore_weights`): resuming
    model.py   a checkpoint -> a network, its config and its fitted preprocessor, for use
               (`load_model`, `saved_preprocessor`): evaluate, predict, export, gradcheck

The tensors are grouped by prefix: `model.` (the MLP's `state_arrays`), `optimizer.` (its
`state_dict()["arrays"]`) and `preprocessor.` (the arrays of `Preprocessor.state_dict()`);
the JSON holds the resolved config, the model's `get_config()`, the preprocessor's other
state, the optimizer's scalars and the Trainer's `state_meta()` (counters, monitors,
schedule, RNG states). Each part (de)serializes itself; these modules only arrange them.
"""

from mlptrain.checkpoint.file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SUFFIX,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_atomic,
)
from mlptrain.checkpoint.model import (
    LoadedModel,
    load_model,
    resolve_checkpoint,
    saved_preprocessor,
)
from mlptrain.checkpoint.state import restore_trainer, restore_weights, trainer_checkpoint

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUFFIX",
    "Checkpoint",
    "LoadedModel",
    "load_checkpoint",
    "load_model",
    "resolve_checkpoint",
    "restore_trainer",
    "restore_weights",
    "save_checkpoint",
    "saved_preprocessor",
    "trainer_checkpoint",
    "write_atomic",
]
