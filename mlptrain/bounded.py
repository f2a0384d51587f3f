"""Bounded reads of untrusted files, and the memory an allocation may take.

Every file mlptrain reads (a config, a CSV, an NPZ or IDX file, a checkpoint, a run's
metrics.csv) comes from the user or from disk that anything may have written. Two promises:

- only a regular file is read: `/dev/zero`, a FIFO or a terminal reports size 0 and never
  ends (or never starts), so it is refused before the first byte (the open is non-blocking,
  so a FIFO without a writer cannot hang it);
- no read and no allocation is larger than a stated limit: a file larger than its limit is
  refused from its size, and an allocation whose estimate exceeds the memory available
  (`MemAvailable` of /proc/meminfo, else the free physical pages) is refused, naming the key
  that asked for it and the estimate.

Errors are the caller's typed error (`ConfigError`, `DataError`, ...), naming the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mlptrain.errors import MlptrainError, UserError

ErrorType = type[MlptrainError]


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | Path, error: ErrorType = UserError, what: str = "file") -> BinaryIO:
    """Open `path` for reading in binary mode if it is a regular file, else raise `error`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error("no such file", path=path) from None
    except IsADirectoryError:
        raise error(f"is a directory, expected a {what}", path=path) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise error(f"cannot be read: {getattr(err, 'strerror', None) or err}", path=path) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"is {_kind(mode)}, not a regular file; expected a {what}", path=path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_size(handle: BinaryIO) -> int:
    return os.fstat(handle.fileno()).st_size


def read_bounded(path: str | Path, limit: int, error: ErrorType = UserError,
                 what: str = "file") -> bytes:
    """The bytes of the regular file `path`, refused (not read) when larger than `limit`."""
    with open_regular(path, error, what) as handle:
        check_size(file_size(handle), limit, error, path, what)
        try:
            data = handle.read(limit + 1)
        except OSError as err:
            raise error(f"cannot be read: {err.strerror or err}", path=path) from None
    check_size(len(data), limit, error, path, what)  # it grew while being read
    return data


def check_size(size: int, limit: int, error: ErrorType, path, what: str) -> None:
    if size > limit:
        raise error(f"is {size} bytes; a {what} may be at most {limit} bytes", path=path)


# ---- memory -------------------------------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation without swapping, or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover (the loop returns)


def check_memory(needed: int, key: str, what: str, error: ErrorType = UserError, path=None,
                 hint: str | None = None,
                 available: Callable[[], int | None] = available_memory) -> None:
    """Raise `error` naming `key` when an estimated `needed` bytes cannot fit in memory."""
    free = available()
    if free is None or needed <= free:
        return
    where = f"{key}: " if key else ""
    raise error(
        f"{where}{what} needs about {human_bytes(needed)}, but only {human_bytes(free)} of "
        "memory is available",
        path=path,
        hint=hint,
    )


# Arrays the size of the parameters a training process holds: weights, gradients, the copy
# kept for the update/weight ratio, and the optimizer's slots (its class's `state_slots`;
# Adam: m and v).
ACTIVATION_COPIES = 4  # per unit and sample: pre-activation, activation, its gradient, a mask


def model_bytes(sizes: list[int], itemsize: int, batch_size: int = 1,
                slots: int | None = None) -> int:
    """Estimated bytes of a network with layer widths `sizes` [n_in, hidden..., n_out]:

        params = sum_l (sizes[l] + 1) * sizes[l + 1]
        bytes  = itemsize * (params * (3 + slots) + ACTIVATION_COPIES * batch * sum(sizes))

    (`slots` None, no optimizer: weights and one working copy). Python integers: no overflow.
    """
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    copies = 3 + slots if slots is not None else 2
    return itemsize * (params * copies + ACTIVATION_COPIES * batch_size * sum(sizes))
