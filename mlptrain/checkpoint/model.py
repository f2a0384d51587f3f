"""A checkpoint loaded for use: its network, its config and its fitted preprocessor.

`load_model(path)` turns a checkpoint file (or a run directory: its `best` checkpoint) into a
`LoadedModel`, strictly: anything that is not a readable mlptrain checkpoint is a
`CheckpointError` naming the file. The preprocessor is the one fitted when the run started,
never refitted (`saved_preprocessor`, also what a resumed run uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlptrain.checkpoint.file import Checkpoint, load_checkpoint
from mlptrain.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from mlptrain.config.schema import ExperimentConfig
    from mlptrain.data.preprocessing import Preprocessor
    from mlptrain.nn.network import MLP


@dataclass
class LoadedModel:
    """A checkpoint's network, validated config and fitted preprocessor."""

    path: Path  # the checkpoint file
    checkpoint: Checkpoint
    cfg: ExperimentConfig
    net: MLP  # in the checkpoint's dtype (or the one asked for)
    preprocessor: Preprocessor

    @property
    def task(self) -> str:
        return self.preprocessor.task

    @property
    def class_names(self) -> list[str] | None:
        return self.preprocessor.class_names


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file as given, or the `best` checkpoint of a run directory."""
    from mlptrain.rundir import find_run_checkpoint

    target = Path(target)
    return find_run_checkpoint(target, "best") if target.is_dir() else target


def load_model(target: str | Path, dtype: str | None = None) -> LoadedModel:
    """Load a checkpoint (or a run directory's best) into a ready network.

    dtype: None keeps the saved dtype; "float64" rebuilds the network in float64 and casts the
    saved weights (gradcheck).
    """
    from mlptrain.config import validate_config
    from mlptrain.metadata_checks import check_model_meta, check_preprocessor_meta
    from mlptrain.nn import MLP

    path = resolve_checkpoint(target)
    checkpoint = load_checkpoint(path)
    meta = checkpoint.meta
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("model"), dict):
        raise CheckpointError("holds no config or model description", path=path)
    try:
        cfg = validate_config(meta["config"], source=str(path))
    except ConfigError as err:
        raise CheckpointError(f"holds an invalid config: {err.message}", path=path) from None
    # An untrusted checkpoint never downloads: its embedded mirrors are dropped, and a download
    # happens only when the command line asks for it (data.download=true data.mirrors=[...]).
    cfg.data.download, cfg.data.mirrors = False, None
    sizes = check_model_meta(meta["model"], path, dtype)
    if isinstance(meta.get("preprocessor"), dict):
        check_preprocessor_meta(meta["preprocessor"], sizes, path)
    model_cfg = dict(meta["model"])
    if dtype is not None:
        model_cfg["dtype"] = dtype
    try:
        net = MLP.from_config(model_cfg)
        arrays = checkpoint.group("model")
        if dtype is not None:
            arrays = {k: v.astype(net.dtype) for k, v in arrays.items()}
        net.load_state_arrays(arrays)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"its model does not match its weights: {err}", path=path) from None
    return LoadedModel(path, checkpoint, cfg, net, saved_preprocessor(checkpoint, path))


def saved_preprocessor(checkpoint: Checkpoint, path: Path) -> Preprocessor:
    """The preprocessor fitted when the checkpoint's run started (never refitted)."""
    from mlptrain.data import Preprocessor
    from mlptrain.errors import DataError
    from mlptrain.metadata_checks import check_preprocessor_meta

    state = checkpoint.meta.get("preprocessor")
    if not isinstance(state, dict):
        raise CheckpointError("holds no preprocessor state", path=path)
    model = checkpoint.meta.get("model")
    sizes = model.get("layer_sizes") if isinstance(model, dict) else None
    valid = isinstance(sizes, list) and len(sizes) >= 2 and all(
        isinstance(s, int) and not isinstance(s, bool) for s in sizes)
    check_preprocessor_meta(state, sizes if valid else None, path)
    try:
        return Preprocessor.from_state_dict({**state, "arrays": checkpoint.group("preprocessor")})
    except DataError as err:
        raise CheckpointError(err.message, path=path) from None
