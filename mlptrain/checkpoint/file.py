"""Safe, atomic, versioned checkpoints in the safetensors format.

A checkpoint is one `.safetensors` file: named tensors (model parameters and buffers,
optimizer state, preprocessing arrays) plus a JSON document in the header's `__metadata__`
(the resolved config, counters, RNG states, schedule state, ...). safetensors cannot execute
code when loaded, and the file opens in PyTorch or JAX too.

Writes are atomic: bytes go to a temporary file in the same folder, are fsync'ed, then
`os.replace`d over the target and the folder is fsync'ed; a crash at any instant leaves
either the previous file or the new one, never a mix.
"""

from __future__ import annotations

import copy
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import CheckpointError

FORMAT_NAME = "mlptrain.checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"


@dataclass
class Checkpoint:
    """Tensors grouped by prefix (`model.`, `optimizer.`, ...) and JSON-able metadata."""

    tensors: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def detached(self) -> Checkpoint:
        """A copy sharing no array or container with this one (nor with the trainer whose
        state it holds), to be written later while training goes on."""
        return Checkpoint(tensors={k: np.array(v, copy=True) for k, v in self.tensors.items()},
                          meta=copy.deepcopy(self.meta))

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """The tensors under `prefix.` with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def write_atomic(path: Path, payload: bytes) -> None:
    """Write `payload` to `path` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    if not path.name or path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file name", str(path))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:  # name the file: a write error alone (ENOSPC) carries no name
        tmp.unlink(missing_ok=True)
        raise type(err)(err.errno, err.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Serialize and atomically write a checkpoint. OSError (disk full, ...) propagates."""
    from safetensors.numpy import save

    header = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "meta": json.dumps(checkpoint.meta, separators=(",", ":"), allow_nan=True),
    }
    tensors = {k: np.ascontiguousarray(v) for k, v in checkpoint.tensors.items()}
    write_atomic(Path(path), save(tensors, metadata=header))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint; anything that is not a readable mlptrain checkpoint of a
    version this build understands raises `CheckpointError` naming the file."""
    from safetensors import SafetensorError, safe_open

    from mlptrain.bounded import file_size, open_regular
    from mlptrain.metadata_checks import check_depth

    path = Path(path)
    if not path.exists():
        raise CheckpointError("no such checkpoint file", path=path)
    with open_regular(path, CheckpointError, "checkpoint file") as handle:  # no FIFO, no device
        if file_size(handle) == 0:
            raise CheckpointError("is empty (0 bytes); not a checkpoint", path=path)
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            _check_header(header, path)
            tensors = {key: _tensor(handle, key, path) for key in handle.keys()}
    except SafetensorError as err:
        raise CheckpointError(
            f"not a readable safetensors checkpoint (truncated or another format): {err}",
            path=path,
        ) from None
    except OSError as err:
        raise CheckpointError(f"cannot be read: {err.strerror or err}", path=path) from None
    try:
        meta = json.loads(header["meta"])
    except (ValueError, KeyError):
        raise CheckpointError("its metadata is not valid JSON", path=path) from None
    except RecursionError:
        raise CheckpointError("its metadata nests too deeply", path=path) from None
    if not isinstance(meta, dict):
        raise CheckpointError("its metadata is not a JSON object", path=path)
    check_depth(meta, path)
    return Checkpoint(tensors=tensors, meta=meta)


# safetensors dtypes numpy has; bf16 and the float8 types are not among them
NUMPY_DTYPES = ("F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL")


def _tensor(handle: Any, key: str, path: Path) -> np.ndarray:  # handle: safetensors safe_open
    dtype = handle.get_slice(key).get_dtype()
    if dtype not in NUMPY_DTYPES:
        raise CheckpointError(f"tensor {key!r} has data type {dtype}, which mlptrain does not "
                              "use (float32 or float64 expected)", path=path)
    return handle.get_tensor(key)


def _check_header(header: dict[str, str], path: Path) -> None:
    if header.get("format") != FORMAT_NAME:
        raise CheckpointError(
            "is a safetensors file but not an mlptrain checkpoint (no mlptrain format tag)",
            path=path,
        )
    version_text = header.get("format_version", "")
    if not (version_text.isascii() and version_text.isdigit() and len(version_text) < 10):
        raise CheckpointError(f"has an invalid format version {version_text!r}", path=path)
    if int(version_text) > FORMAT_VERSION:
        raise CheckpointError(
            f"was written by a newer mlptrain (checkpoint format {version_text}, this version "
            f"reads up to {FORMAT_VERSION})",
            path=path,
            hint="upgrade mlptrain: pip install -U mlptrain",
        )
