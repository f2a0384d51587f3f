"""Builders of the bad-input corpus (tests/test_corpus.py): hostile YAML, broken data files,
tampered checkpoints, and a pickle whose payload would leave a marker file if it ever ran."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from mlptrain.checkpoint import FORMAT_NAME

MARKER_ENV = "MLPTRAIN_CORPUS_MARKER"


class _Payload:
    """Unpickling this calls os.makedirs(marker): proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def pickle_bomb(marker: Path) -> bytes:
    """A pickle that creates the folder `marker` when loaded (and does nothing else)."""
    return pickle.dumps({"model": _Payload(marker)}, protocol=2)


def npy_with_pickled_objects(marker: Path) -> bytes:
    """An .npy of dtype=object whose body is `pickle_bomb(marker)` (what np.save would write)."""
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + pickle_bomb(marker)


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_with_members(members: dict[str, bytes]) -> bytes:
    """A zip of raw `.npy` members (to hold what np.savez refuses to write)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def tiny_idx_pair(n: int = 30, n_labels: int | None = None) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
    y = (np.arange(n if n_labels is None else n_labels) % 3).astype(np.uint8)
    return idx_bytes(X, 2051), idx_bytes(y, 2049)


def good_csv(n: int = 60) -> str:
    rng = np.random.default_rng(0)
    rows = ["a,b,label"]
    for i in range(n):
        a, b = rng.normal(size=2)
        rows.append(f"{a:.4f},{b:.4f},{'yes' if i % 2 else 'no'}")
    return "\n".join(rows) + "\n"


# ---- checkpoints ------------------------------------------------------------------------------


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None) -> bytes:
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)


def tampered_checkpoint(good: Path, how: str) -> bytes:
    """The bytes of `good` (an mlptrain checkpoint) damaged in one way, named by `how`."""
    tensors, header = read_safetensors(good)
    meta = json.loads(header["meta"])
    weight = next(k for k in sorted(tensors) if k.startswith("model.") and k.endswith("weight"))
    if how == "missing-tensor":
        del tensors[weight]
    elif how == "extra-tensor":
        tensors["model.layers.9.weight"] = np.zeros((2, 2), np.float32)
    elif how == "wrong-shape":
        tensors[weight] = np.zeros((tensors[weight].shape[0] + 1, 3), tensors[weight].dtype)
    elif how == "wrong-dtype":
        tensors[weight] = tensors[weight].astype(np.float64)
    elif how == "newer-version":
        header["format_version"] = "99"
    elif how == "bad-version":
        header["format_version"] = "one"
    elif how == "meta-not-json":
        header["meta"] = "{not json"
    elif how == "meta-not-object":
        header["meta"] = "[1, 2]"
    elif how == "no-config":
        meta.pop("config")
        header["meta"] = json.dumps(meta)
    elif how == "bad-config":
        meta["config"]["optimizer"]["lr"] = -1
        header["meta"] = json.dumps(meta)
    elif how == "no-trainer-state":
        meta.pop("trainer")
        header["meta"] = json.dumps(meta)
    elif how == "foreign":
        return safetensors_bytes(tensors, {"format": "pt"})
    elif how == "no-metadata":
        return safetensors_bytes(tensors, None)
    else:
        raise ValueError(how)
    assert header["format"] == FORMAT_NAME
    return safetensors_bytes(tensors, header)


def huge_header_safetensors() -> bytes:
    """A safetensors file whose 8-byte length promises a 1 TB JSON header."""
    return (1 << 40).to_bytes(8, "little") + b'{"a":1}'
