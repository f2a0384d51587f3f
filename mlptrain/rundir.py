"""The run directory: where one training run writes everything it produces.

    runs/<name>-<timestamp>/
      config.yaml        the resolved config, overrides applied
      metrics.csv        one row per evaluation (epoch), pandas-friendly
      layers.jsonl       per-layer statistics, one JSON object per line and epoch
      checkpoints/       last.safetensors, best.safetensors, epoch-0005.safetensors, ...
      summary.json       final and best metrics, wall time, versions, command line, seed
      train.log          the plain-text log of the run

A run directory is created with an exclusive `mkdir`, so an existing run is never
overwritten; its name comes from a template that cannot leave the output root. A process that
trains in a run directory holds its `RunLock` (an exclusive `flock` on RUN/.lock, which names
the holder) for its whole life, so two processes never write to one run at once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from mlptrain.checkpoint import SUFFIX, write_atomic
from mlptrain.errors import RunDirError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
LAYERS_FILE = "layers.jsonl"
SUMMARY_FILE = "summary.json"
LOG_FILE = "train.log"
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"
MAX_HISTORY_BYTES = 256 * 1024 * 1024  # metrics.csv, layers.jsonl: a few kB per epoch


def read_run_text(path: Path, limit: int = MAX_HISTORY_BYTES) -> str:
    """A run-directory text file (metrics.csv, layers.jsonl), read within bounds: a regular
    file of at most `limit` bytes, UTF-8; anything else is a RunDirError naming the file."""
    from mlptrain.bounded import read_bounded

    data = read_bounded(path, limit, RunDirError, "run-directory file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunDirError(f"is not UTF-8 text (byte {err.start}); it was not written by "
                          "mlptrain, or is damaged", path=path) from None


def create_run_dir(root: str | Path, template: str, name: str, seed: int) -> Path:
    """Create a new, empty run directory under `root`; never reuse an existing one."""
    root = Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = template.format(name=name, timestamp=stamp, seed=seed)
    if not folder or folder in (".", "..") or "/" in folder or os.sep in folder:
        raise RunDirError(f"run name {folder!r} from template {template!r} is not a folder name")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot create the output root: {err.strerror}", path=root) from None
    for attempt in range(1000):
        candidate = root / (folder if attempt == 0 else f"{folder}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise RunDirError(f"cannot create the run directory: {err.strerror}", path=candidate) from None
        (candidate / CHECKPOINT_DIR).mkdir()
        return candidate
    raise RunDirError(f"1000 run directories named {folder}-* already exist", path=root)


class RunDir:
    """Paths and writers of one run directory.

    The appended files (metrics.csv, layers.jsonl, train.log) stay open between writes, and
    each write is flushed at once: a row is in the kernel (which a killed process does not
    lose) when `append_metrics`, `append_jsonl` or `log` returns, without reopening the file
    every epoch. `close` closes them; `truncate_history` does so before rewriting.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._appending: dict[str, TextIO] = {}  # file name -> its open append handle

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    def checkpoint(self, tag: str) -> Path:
        """`last`, `best` or `epoch-0007` -> its file."""
        return self.checkpoints / f"{tag}{SUFFIX}"

    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> None:
        write_atomic(self.file(name), text.encode("utf-8"))

    def write_json(self, name: str, value: Any) -> None:
        self.write_text(name, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")

    def append_metrics(self, row: Mapping[str, Any], columns: list[str]) -> None:
        """Append one row to metrics.csv (the header is written with the first row)."""
        target = self.file(METRICS_FILE)
        new = METRICS_FILE not in self._appending and (
            not target.exists() or target.stat().st_size == 0)
        self._handle(METRICS_FILE, newline="")
        lines = _Lines()
        writer = csv.DictWriter(lines, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
        self._write(METRICS_FILE, "".join(lines))

    def append_jsonl(self, name: str, record: Mapping[str, Any]) -> None:
        self._handle(name)
        self._write(name, json.dumps(record, separators=(",", ":")) + "\n")

    def log(self, line: str) -> None:
        self._handle(LOG_FILE)
        self._write(LOG_FILE, f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def _handle(self, name: str, newline: str | None = None) -> TextIO:
        """The open append handle of run file `name` (opened on first use)."""
        handle = self._appending.get(name)
        if handle is None:
            handle = self._appending[name] = open(  # noqa: SIM115 (closed by close())
                self.file(name), "a", newline=newline, encoding="utf-8")
        return handle

    def _write(self, name: str, text: str) -> None:
        """Write `text` to the open file `name` and flush it to the kernel; on an error (a
        full disk) the handle is dropped with whatever it still buffered."""
        handle = self._appending[name]
        try:
            handle.write(text)
            handle.flush()
        except BaseException:
            self._appending.pop(name, None)
            _close_quietly(handle)
            raise

    def close(self) -> None:
        """Close the appended files (each write was flushed already)."""
        while self._appending:
            _close_quietly(self._appending.popitem()[1])

    def truncate_history(self, last_step: int) -> None:
        """Drop metric and layer rows written after optimizer step `last_step` (the step of
        the checkpoint a run resumes from), and any row a crash left half-written."""
        self.close()  # the files are replaced: an open handle would append to the old ones
        metrics = self.file(METRICS_FILE)
        if metrics.exists():
            try:
                rows = list(csv.DictReader(io.StringIO(read_run_text(metrics))))
            except csv.Error as err:
                raise RunDirError(f"is not valid CSV ({err})", path=metrics) from None
            kept = [r for r in rows if _complete(r) and _step_of(r) <= last_step]
            out = io.StringIO()
            if rows:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
                writer.writeheader()
                writer.writerows(kept)
            write_atomic(metrics, out.getvalue().encode("utf-8"))
        layers = self.file(LAYERS_FILE)
        if layers.exists():
            lines = read_run_text(layers).splitlines()
            kept_lines = [ln for ln in lines if _json_step(ln) <= last_step]
            write_atomic(layers, "".join(ln + "\n" for ln in kept_lines).encode("utf-8"))

    def remove_stale_temp_files(self) -> None:
        """Delete the temp files (`.NAME.tmp-PID`) a killed process left behind: only those
        whose writer is no longer alive on this host (an `eval` writing its result next to a
        checkpoint keeps its file); never a complete checkpoint."""
        for folder in (self.path, self.checkpoints):
            for stale in folder.glob(".*.tmp-*"):
                if not _process_alive(_writer_pid(stale.name)):
                    stale.unlink(missing_ok=True)


class _Lines(list):
    """A csv writer's target that keeps what it writes (`write` appends the text)."""

    def write(self, text: str) -> None:
        self.append(text)


def _close_quietly(handle: TextIO) -> None:
    try:
        handle.close()
    except OSError:  # what it still buffered could not be written: the error was raised before
        pass


def _writer_pid(name: str) -> int | None:
    """The pid at the end of a temp file's name `.NAME.tmp-PID` (None if there is none)."""
    tail = name.rpartition(".tmp-")[2]
    return int(tail) if tail.isascii() and tail.isdigit() and len(tail) < 10 else None


def _process_alive(pid: int | None) -> bool:
    """True when a process `pid` exists on this host (a temp file without a pid: False)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


class RunLock:
    """The exclusive right to write to one run directory, for the life of a process.

    `acquire` takes a non-blocking `flock` on RUN/.lock and writes the holder (pid, host,
    start time, command) into it; a second process gets a RunDirError naming that holder.
    `release` removes the file, then unlocks. The kernel drops the lock of a killed process;
    its stale file is reused. Because a released file is unlinked, `acquire` checks that the
    file it locked is still the one at the path (else another process removed it: retry).
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, command: str = "") -> RunLock:
        import fcntl

        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as err:
                raise RunDirError(f"cannot create the lock file: {err.strerror}",
                                  path=self.path) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise RunDirError(
                    f"is in use by another mlptrain process ({holder}); only one process "
                    "at a time may write to a run directory",
                    path=self.path.parent,
                    hint="wait for it to end, or stop it (Ctrl-C or kill saves a checkpoint)",
                ) from None
            if _same_file(fd, self.path):
                self._fd = fd
                self._write_holder(fd, command)
                return self
            os.close(fd)  # a releasing process unlinked it after we opened it: start over
        raise RunDirError("could not take the run directory's lock (it keeps changing)",
                          path=self.path)

    def _write_holder(self, fd: int, command: str) -> None:
        import json
        import socket

        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S%z"), "command": command}
        data = (json.dumps(holder) + "\n").encode("utf-8")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:
            pass  # the holder's name is a courtesy; the lock itself is held

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self._fd)  # closing the last descriptor drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _read_holder(fd: int) -> str:
    """'pid 123 on host h, started ...' from a lock file (written just after it was locked:
    wait briefly for it)."""
    import json

    for _ in range(50):
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
            return (f"pid {int(holder['pid'])} on host {str(holder['host'])[:64]}, "
                    f"started {str(holder['started'])[:32]}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            time.sleep(0.01)
    return "its pid and host are not recorded"


def _complete(row: Mapping[str | None, Any]) -> bool:
    """A metrics.csv row with exactly the header's fields: csv.DictReader fills a short row
    with None values and files a long row's surplus under the key None."""
    return None not in row and None not in row.values()


def _step_of(row: Mapping[str, str]) -> float:
    try:
        return float(row.get("step") or "inf")
    except ValueError:
        return float("inf")


def _json_step(line: str) -> float:
    """The step of a layers.jsonl line; inf for a line that does not parse (half-written)."""
    try:
        return float(json.loads(line).get("step", float("inf")))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return float("inf")


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return "" if value is None else value


def find_run_checkpoint(run_dir: str | Path, tag: str) -> Path:
    """The `tag` checkpoint of a run directory, or a RunDirError saying what is missing."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise RunDirError("no such run directory", path=run.path)
    target = run.checkpoint(tag)
    if not target.exists():
        raise RunDirError(
            f"holds no {tag} checkpoint ({CHECKPOINT_DIR}/{tag}{SUFFIX} is missing)",
            path=run.path,
            hint="the run may have stopped before its first epoch ended",
        )
    return target
