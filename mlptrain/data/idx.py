"""The IDX format of MNIST-like sets: read, check and locate images/labels files.

An IDX file is a big-endian header, then the values:

    magic  (4 bytes: 0, 0, type code, number of dimensions)   2051 = uint8 3-D (images)
    dims   (4 bytes each)                                      2049 = uint8 1-D (labels)
    data   (prod(dims) values; only type 0x08, unsigned bytes, is supported)

Files may be gzip-compressed (`.gz`, detected from the content). Every structural problem
(wrong magic, a header that promises more bytes than the file holds, images and labels that
disagree in count) is a `DataError` naming the file.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

from mlptrain.bounded import check_memory, file_size, human_bytes, open_regular
from mlptrain.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (n, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (n,)
GZIP_MAGIC = b"\x1f\x8b"
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


def read_bytes(path: str | Path) -> bytes:
    """The decompressed content of an IDX file (raw or gzip), read within bounds: only a
    regular file, no larger than the memory available, and a gzip file decompressed no
    further than the size its IDX header claims (see `decompress`)."""
    with open_regular(path, DataError, "IDX file") as handle:
        size = file_size(handle)
        check_memory(size, "", f"reading this {human_bytes(size)} IDX file", DataError, path)
        try:
            data = handle.read(size + 1)
        except OSError as err:
            raise DataError(f"cannot be read: {err.strerror}", path=path) from None
    return decompress(data, path)


def decompress(data: bytes, source: str | Path) -> bytes:
    """`data` un-gzipped if it starts with the gzip magic, else as is.

    Decompression stops at the size the IDX header (the first bytes out) claims, checked
    against the memory available first: a small file that would inflate to gigabytes (a
    "zip bomb") is refused before it is inflated.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    out = bytearray()
    stream = _Inflater(data, source)
    out += stream.read(4)
    if len(out) < 4:
        return bytes(out)  # parse() names what is missing
    out += stream.read(4 * out[3])
    header = 4 + 4 * out[3]
    if len(out) < header:
        return bytes(out)
    dims = [int.from_bytes(out[4 + 4 * i : 8 + 4 * i], "big") for i in range(out[3])]
    expected = header + math.prod(dims)
    check_memory(expected, "", f"the header of this gzip IDX file claims {expected} bytes, "
                 "which", DataError, source)
    out += stream.read(expected - len(out) + 1)
    if len(out) > expected:
        raise DataError(
            f"decompresses to more than the {expected} bytes its IDX header promises", path=source
        )
    return bytes(out)


class _Inflater:
    """Reads up to n decompressed bytes at a time from gzip `data` (members concatenated)."""

    def __init__(self, data: bytes, source: str | Path):
        self.pending, self.source = data, source
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def read(self, n: int) -> bytes:
        out = b""
        try:
            while len(out) < n:
                chunk = self.inflater.decompress(self.pending, n - len(out))
                out += chunk
                self.pending = self.inflater.unconsumed_tail
                if self.inflater.eof:
                    rest = self.inflater.unused_data
                    if not rest.startswith(GZIP_MAGIC):
                        break
                    self.pending, self.inflater = rest, zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif not chunk and not self.pending:
                    raise EOFError("compressed file ended before the end-of-stream marker")
        except (EOFError, zlib.error) as err:
            raise DataError(
                f"is a damaged or truncated gzip file ({err}); delete it and fetch it again",
                path=self.source,
            ) from None
        return out


def parse(data: bytes, source: str | Path, expect_magic: int) -> np.ndarray:
    """The array of an IDX file's bytes: images (n, rows, cols) or labels (n,), uint8.

    The result is a read-only view into `data` (no copy).
    """
    if len(data) == 0:
        raise DataError("is empty, expected an IDX file", path=source)
    if len(data) < 4:
        raise DataError(f"holds {len(data)} bytes, too short for an IDX header", path=source)
    magic = int.from_bytes(data[:4], "big")
    if magic != expect_magic:
        found = _KIND.get(magic, "not an IDX uint8 file")
        raise DataError(
            f"wrong magic number {magic} ({found}); expected {expect_magic} "
            f"({_KIND[expect_magic]} file)",
            path=source,
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"is truncated inside its header ({len(data)} bytes)", path=source)
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        shape = "x".join(str(d) for d in dims)
        raise DataError(
            f"is {what}: the header promises {shape} values ({expected} bytes), "
            f"the file holds {len(data)} bytes",
            path=source,
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_images(path: str | Path) -> np.ndarray:
    """Images of an IDX file, flattened: (n, rows * cols) uint8 (a view, no float copy)."""
    images = parse(read_bytes(path), path, IMAGES_MAGIC)  # (n, rows, cols)
    if images.ndim < 2 or len(images) == 0:
        raise DataError(f"holds no samples (shape {images.shape})", path=path)
    if math.prod(images.shape[1:]) == 0:
        raise DataError(f"its images have no pixels (shape {images.shape})", path=path)
    return images.reshape(len(images), -1)


def read_labels(path: str | Path) -> np.ndarray:
    """Labels of an IDX file: (n,) uint8."""
    return parse(read_bytes(path), path, LABELS_MAGIC)


def read_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, rows * cols) uint8 and labels (n,) int64, checked to agree in count."""
    X = read_images(images_path)
    y = read_labels(labels_path)
    if len(X) != len(y):
        raise DataError(
            f"holds {len(X)} images but its labels file {Path(labels_path).name} holds "
            f"{len(y)} labels; the two must come from the same set",
            path=images_path,
        )
    return X, y.astype(np.int64)


def labels_path_for(images_path: str | Path) -> Path:
    """The labels file beside an images file, found by name (images->labels, idx3->idx1)."""
    images_path = Path(images_path)
    name = images_path.name
    guess = name.replace("images", "labels").replace("idx3", "idx1")
    if guess == name:
        raise DataError(
            "cannot find its labels file: the name holds no 'images' to replace by 'labels'",
            path=images_path,
            hint="name the files like train-images-idx3-ubyte and train-labels-idx1-ubyte",
        )
    stem = guess.removesuffix(".gz")
    for candidate in (stem, stem + ".gz"):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    raise DataError(
        f"has no labels file beside it (looked for {stem} and {stem}.gz)", path=images_path
    )


def find_in_folder(folder: str | Path, prefix: str, kind: str) -> Path | None:
    """The file of `folder` named `<prefix>-<kind>...` (e.g. train-images-idx3-ubyte[.gz])."""
    folder = Path(folder)
    for sep in ("-", "."):
        for idx_kind in ("idx3", "idx1"):
            for suffix in ("", ".gz"):
                candidate = folder / f"{prefix}-{kind}{sep}{idx_kind}-ubyte{suffix}"
                if candidate.is_file():
                    return candidate
    return None
