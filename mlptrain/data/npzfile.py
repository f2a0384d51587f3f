"""NPZ files: two named arrays (data.x_key, data.y_key), loaded without pickle.

X may have any number of dimensions: samples along the first, the rest flattened, so images
(n, 28, 28) become (n, 784). uint8 features stay uint8 (and count as images: one global
scaling statistic); every other numeric type becomes float32. Object arrays are refused:
loading them would need pickle, which can run code.
"""

from __future__ import annotations

import math
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from mlptrain.bounded import check_memory, open_regular
from mlptrain.data.dataset import RawData
from mlptrain.errors import DataError


@contextmanager
def _open(path: Path):
    """The NPZ archive of a regular file (np.load on the open handle: no second open)."""
    with open_regular(path, DataError, ".npz file") as handle:
        archive = _load(handle, path)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError("is a single .npy array, not an .npz archive of named arrays",
                            path=path)
        with archive:
            yield archive


def _load(handle, path: Path):
    try:
        return np.load(handle, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err):  # neither zip nor .npy: numpy would try pickle; never here
            raise DataError("is not a readable .npz archive (not a zip file)", path=path) from None
        raise DataError(f"is not a readable .npz archive ({err})", path=path) from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"is not a readable .npz archive ({err})", path=path) from None


def _array(archive, path: Path, key: str, field: str) -> np.ndarray:
    if key not in archive.files:
        present = ", ".join(archive.files) or "none"
        raise DataError(
            f"has no array {key!r} ({field}); arrays present: {present}", path=path,
            hint=f"set {field} to one of the names above",
        )
    _check_member_header(archive, path, key)
    try:
        array = archive[key]
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise DataError(
                f"array {key!r} holds Python objects (dtype=object); only numeric arrays "
                "are accepted (loading objects would need pickle)",
                path=path,
            ) from None
        raise DataError(f"array {key!r} cannot be read ({err})", path=path) from None
    if not isinstance(array, np.ndarray):  # a member that is not an .npy: np.load gives bytes
        raise DataError(f"member {key!r} is not an .npy array", path=path)
    if array.dtype.kind not in "biuf" and not (field == "data.y_key" and array.dtype.kind == "U"):
        raise DataError(
            f"array {key!r} has dtype {array.dtype}; expected numbers", path=path
        )
    return array


def _check_member_header(archive, path: Path, key: str) -> None:
    """Refuse an array whose .npy header claims more bytes than its zip member holds (or
    than memory can take) before numpy allocates it: a header may claim 16 TiB."""
    names = archive.zip.namelist()
    member = key + ".npy" if key + ".npy" in names else key
    if member not in names:
        return
    info = archive.zip.getinfo(member)
    check_memory(info.file_size, "", f"array {key!r} ({info.file_size} bytes unpacked)",
                 DataError, path)
    try:
        with archive.zip.open(member) as stream:
            version = npformat.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = npformat.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, _, dtype = npformat.read_array_header_2_0(stream)
            else:
                return  # numpy reads (and checks) other versions itself
            body = info.file_size - stream.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as err:
        raise DataError(f"array {key!r} has an unreadable .npy header ({err})", path=path) from None
    if dtype.hasobject:
        return  # refused below without reading it (it would need pickle)
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > body:
        raise DataError(
            f"array {key!r}: its header claims shape {tuple(shape)} of {dtype} "
            f"({claimed} bytes), but the archive holds {body} bytes for it",
            path=path,
        )


def _features(X: np.ndarray, path: Path, key: str) -> np.ndarray:
    if X.ndim == 0 or len(X) == 0:
        raise DataError(f"array {key!r} holds no samples (shape {X.shape})", path=path)
    X = X.reshape(len(X), -1) if X.ndim != 1 else X[:, None]  # (n, n_features)
    if X.shape[1] == 0:
        raise DataError(f"array {key!r} has no features (shape {X.shape})", path=path)
    if X.dtype == np.uint8:
        return X
    return X.astype(np.float32)


def read_npz(path: str | Path, *, x_key: str = "X", y_key: str | None = "y") -> RawData:
    """Features `x_key` (n, ...) and, unless `y_key` is None, targets `y_key` (n,) or (n, k)."""
    path = Path(path)
    with _open(path) as archive:
        X = _array(archive, path, x_key, "data.x_key")
        y = None if y_key is None else _array(archive, path, y_key, "data.y_key")
    image = X.dtype == np.uint8 and X.ndim >= 3
    X = _features(X, path, x_key)
    if y is not None:
        if y.ndim > 2 or y.ndim == 0:
            raise DataError(
                f"array {y_key!r} has shape {y.shape}; targets must be (n,) or (n, k)", path=path
            )
        if len(y) != len(X):
            raise DataError(
                f"array {x_key!r} holds {len(X)} samples but {y_key!r} holds {len(y)}", path=path
            )
        y = y if y.dtype.kind == "U" else y.astype(np.float64)
    return RawData(X=X, y=y, path=str(path), image=image or X.dtype == np.uint8)
