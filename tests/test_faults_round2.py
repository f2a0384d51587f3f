"""Process faults, round 2 (issue 15), with real processes, real signals and a real small tmpfs:
a disk that is full at the very first write, one writer per run directory, and resume exactness
at the edges (SIGKILL between the last checkpoint and summary.json, SIGKILL during a resume
that raises the epoch budget).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlptrain.cli import app

runner = CliRunner()


def small_raw(root: Path, epochs: int = 3, **model) -> dict:
    return {"name": "f", "data": {"source": "spiral", "n_samples": 200},
            "model": {"hidden": [8], **model}, "optimizer": {"lr": 0.01},
            "train": {"epochs": epochs, "batch_size": 32}, "run": {"root": str(root)}}


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def assert_short_error(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 4, result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in {result.output!r}"


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 2 MB tmpfs (needs root and mount rights; skipped where mounting is not allowed)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=60)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of `folder` until at most `leave` bytes are free (real ENOSPC)."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    capacity = stats.f_blocks * stats.f_frsize  # no file system takes more than its size
    with open(filler, "wb") as handle:
        chunk = bytes(4096)
        written = 0
        while True:
            stats = os.statvfs(folder)
            if stats.f_bavail * stats.f_frsize <= leave:
                break
            if written > capacity:  # bounded: a file system that never fills fails, not hangs
                pytest.fail(f"wrote {written} bytes into a {capacity}-byte file system "
                            "without filling it")
            try:
                handle.write(chunk)
                handle.flush()
            except OSError as err:
                assert err.errno == errno.ENOSPC
                break
            written += len(chunk)
    return filler


def test_a_disk_full_at_the_first_write_leaves_no_run_directory(tmp_path, tiny_filesystem):
    fill(tiny_filesystem, leave=0)
    root = tiny_filesystem / "runs"
    cfg = write_config(tmp_path / "cfg.yaml", small_raw(root))
    result = runner.invoke(app, ["train", str(cfg), "-q"])
    assert_short_error(result, "config.yaml", "No space left on device")
    assert not root.exists() or list(root.iterdir()) == [], "an empty run directory was left"


def test_a_disk_full_at_the_first_checkpoint_says_none_existed_and_cleans_up(tmp_path,
                                                                           tiny_filesystem):
    # ~130k parameters: a checkpoint (weights + Adam moments) is ~1.6 MB; 200 kB are left
    fill(tiny_filesystem, leave=200_000)
    root = tiny_filesystem / "runs"
    cfg = write_config(tmp_path / "cfg.yaml", small_raw(root, hidden=[320, 320]))
    result = runner.invoke(app, ["train", str(cfg), "-q"])
    assert_short_error(result, "could not write checkpoint", "No space left on device",
                       "had been written yet", "removed")
    assert "intact" not in result.output, "no previous checkpoint existed"
    assert not root.exists() or list(root.iterdir()) == [], "a run without checkpoints was left"
