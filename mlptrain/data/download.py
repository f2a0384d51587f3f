"""Download one file from a list of mirrors: streamed, verified, then moved into place.

The bytes go to a temporary file in the destination folder (`.<name>.part-XXXX`); only when
the transfer is complete (Content-Length honoured) and `verify(path)` accepts the file is it
flushed to disk (fsync) and renamed over the destination with `os.replace`, which is atomic.
An interrupted or corrupted download therefore never leaves a file that looks complete; its
temporary file is removed. Mirrors are tried in order; the error lists why each one failed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from mlptrain.errors import DataError

TIMEOUT_SECONDS = 30.0
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024  # the largest known set file (gzip) is ~30 MB
SCHEMES = ("http://", "https://")
CHUNK_BYTES = 1 << 16
USER_AGENT = "mlptrain (dataset download)"


class ProgressBar(Protocol):
    def update(self, n: int) -> Any: ...
    def close(self) -> Any: ...


Progress = Callable[[int | None, str], ProgressBar]


class _Failed(Exception):
    """One mirror failed; the message says why."""


def _stream(url: str, handle, desc: str, progress: Progress | None, timeout: float) -> None:
    # imported here: a run on local files never loads HTTP, TLS and e-mail (~10 ms of start-up)
    import http.client
    import urllib.error
    import urllib.request

    if not url.lower().startswith(SCHEMES):  # file:///dev/zero, ftp://, ... are never fetched
        raise _Failed("only http:// and https:// mirrors are allowed")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > MAX_DOWNLOAD_BYTES:
                raise _Failed(f"the file is {total} bytes, more than the {MAX_DOWNLOAD_BYTES} allowed")
            bar = progress(total, desc) if progress else None
            got = 0
            try:
                while chunk := response.read(CHUNK_BYTES):
                    handle.write(chunk)
                    got += len(chunk)
                    if got > MAX_DOWNLOAD_BYTES:
                        raise _Failed(f"the file is larger than the {MAX_DOWNLOAD_BYTES} bytes allowed")
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except urllib.error.HTTPError as err:
        raise _Failed(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise _Failed(f"cannot connect ({err.reason})") from None
    except TimeoutError:
        raise _Failed(f"timed out after {timeout:g} s") from None
    except (http.client.HTTPException, ConnectionError, OSError) as err:
        raise _Failed(f"connection failed ({err.__class__.__name__}: {err})") from None
    if total is not None and got != total:
        raise _Failed(f"connection dropped after {got} of {total} bytes")
    if got == 0:
        raise _Failed("the server sent an empty file")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _try_mirror(
    url: str, dest: Path, verify: Callable[[Path], None], progress: Progress | None, timeout: float
) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.part-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            _stream(url, handle, dest.name, progress, timeout)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            verify(tmp)
        except DataError as err:
            raise _Failed(err.message) from None
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache file is an ordinary file
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def download(
    urls: Sequence[str],
    dest: str | Path,
    verify: Callable[[Path], None],
    *,
    progress: Progress | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> str:
    """Fetch `dest` from the first of `urls` that delivers a file `verify` accepts.

    verify(path) raises DataError when the downloaded file is wrong. Returns the URL used.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the download folder: {err.strerror}", path=dest.parent) from None
    failures = []
    for url in urls:
        try:
            _try_mirror(url, dest, verify, progress, timeout)
            return url
        except _Failed as why:
            failures.append(f"{url}: {why}")
    raise DataError(
        f"could not download {dest.name} from any of {len(urls)} mirror(s): " + "; ".join(failures),
        path=dest.parent,
    )
