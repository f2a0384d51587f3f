"""RunDir.truncate_history: what a resume keeps of metrics.csv and layers.jsonl."""

from __future__ import annotations

from mlptrain.rundir import RunDir


def test_truncate_history_keeps_complete_rows_up_to_the_step(tmp_path):
    (tmp_path / "metrics.csv").write_text(
        "epoch,step,train_loss\n1,4,0.5\n2,8,0.4\n3,12,0.3\n"
        "2,8\n"            # a short row (a crash mid-write)
        "2,8,0.4,extra\n"  # a long row (more fields than the header)
    )
    (tmp_path / "layers.jsonl").write_text('{"step": 4}\n{"step": 8}\n{"step": 12}\n{"ste')
    RunDir(tmp_path).truncate_history(8)
    assert (tmp_path / "metrics.csv").read_bytes() == b"epoch,step,train_loss\r\n1,4,0.5\r\n2,8,0.4\r\n"
    assert (tmp_path / "layers.jsonl").read_text() == '{"step": 4}\n{"step": 8}\n'


# ---- appended files: open between writes, each write flushed -----------------------------------

COLUMNS = ["epoch", "step", "train_loss"]


def test_each_appended_row_is_readable_before_the_run_closes_its_files(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics({"epoch": 1, "step": 4, "train_loss": 0.5}, COLUMNS)
    run.append_jsonl("layers.jsonl", {"epoch": 1, "step": 4})
    run.log("epoch=1")
    # another reader (a `tail -f`, a plot) sees every row at once, header first and only once
    assert (tmp_path / "metrics.csv").read_bytes() == b"epoch,step,train_loss\r\n1,4,0.5\r\n"
    run.append_metrics({"epoch": 2, "step": 8, "train_loss": 0.25, "extra": 1}, COLUMNS)
    assert (tmp_path / "metrics.csv").read_bytes() == (
        b"epoch,step,train_loss\r\n1,4,0.5\r\n2,8,0.25\r\n")
    assert (tmp_path / "layers.jsonl").read_text() == '{"epoch":1,"step":4}\n'
    assert (tmp_path / "train.log").read_text().endswith(" epoch=1\n")
    run.close()
    run.close()  # twice is harmless
    RunDir(tmp_path).append_metrics({"epoch": 3, "step": 12, "train_loss": None}, COLUMNS)
    assert (tmp_path / "metrics.csv").read_bytes().endswith(b"2,8,0.25\r\n3,12,\r\n")


def test_rows_written_before_a_sigkill_are_on_disk(tmp_path):
    import signal
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import sys, time
        from mlptrain.rundir import RunDir
        run = RunDir({str(tmp_path)!r})
        for step in (4, 8):
            run.append_metrics({{"epoch": step // 4, "step": step, "train_loss": 0.5}},
                               {COLUMNS!r})
        run.log("two rows")
        print("written", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "written\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert (tmp_path / "metrics.csv").read_bytes() == (
        b"epoch,step,train_loss\r\n1,4,0.5\r\n2,8,0.5\r\n")
    assert (tmp_path / "train.log").read_text().endswith(" two rows\n")


def test_truncate_history_then_append_writes_to_the_new_file(tmp_path):
    run = RunDir(tmp_path)
    for step in (4, 8, 12):
        run.append_metrics({"epoch": step // 4, "step": step, "train_loss": 0.5}, COLUMNS)
        run.append_jsonl("layers.jsonl", {"step": step})
    run.truncate_history(4)  # replaces both files while the run holds them open
    run.append_metrics({"epoch": 2, "step": 8, "train_loss": 0.75}, COLUMNS)
    run.append_jsonl("layers.jsonl", {"step": 8})
    assert (tmp_path / "metrics.csv").read_bytes() == (
        b"epoch,step,train_loss\r\n1,4,0.5\r\n2,8,0.75\r\n")
    assert (tmp_path / "layers.jsonl").read_text() == '{"step":4}\n{"step":8}\n'


def test_a_full_disk_fails_every_append_and_drops_the_file(tmp_path):
    import errno
    import os

    import pytest

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    (tmp_path / "metrics.csv").symlink_to("/dev/full")  # every write: ENOSPC
    run = RunDir(tmp_path)
    for _ in range(2):  # the second row fails too (nothing half-buffered is taken as written)
        with pytest.raises(OSError) as err:
            run.append_metrics({"epoch": 1, "step": 4, "train_loss": 0.5}, COLUMNS)
        assert err.value.errno == errno.ENOSPC
        assert run._appending == {}
    run.log("still logging")  # the other files are unaffected
    assert (tmp_path / "train.log").read_text().endswith(" still logging\n")
    run.close()
