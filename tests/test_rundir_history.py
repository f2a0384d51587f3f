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
