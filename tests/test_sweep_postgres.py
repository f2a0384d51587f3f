"""The multi-worker sweep against a real PostgreSQL 15 server on 127.0.0.1: a throwaway
cluster (initdb + pg_ctl in a temporary folder, as a non-root user, on a free port) that is
stopped and removed at the end. Skipped only where the server binaries are absent."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from sweep_helpers import BASE, SWEEP, cli, only_sweep_dir, read_csv, run_cli, wait_for, write_sweep

pytest.importorskip("optuna")
pytest.importorskip("psycopg2")

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(user: str | None, *cmd: str) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else list(cmd)


@pytest.fixture(scope="module")
def postgres_url():
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        pytest.skip(f"PostgreSQL 15 server binaries are not installed ({PG_BIN})")
    user = None
    folder = Path(tempfile.mkdtemp(prefix="mlptrain-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use nobody
        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data, port = folder / "data", _free_port()
    try:
        subprocess.run(_as_user(user, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                                "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"),
                       check=True, capture_output=True, timeout=120)
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
                   "-c max_connections=50")
        subprocess.run(_as_user(user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                                "-l", str(folder / "server.log"), "-w", "-t", "60", "start"),
                       check=True, capture_output=True, timeout=120)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_user(user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m",
                                    "immediate", "stop"), capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _trials(url: str, study: str):
    import optuna

    from mlptrain.sweep.study import driver_url

    trials = optuna.load_study(study_name=study, storage=driver_url(url)).get_trials()
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # unique numbers
    # Two workers may race for the last slot: the loser's trial is failed as over budget
    # before it trains, and is no trial of the sweep.
    return [t for t in trials if not t.user_attrs.get("over_budget")]


def test_two_workers_share_a_postgres_study_with_unique_trials_and_the_full_budget(
        postgres_url, tmp_path):
    # 8 trials: enough that a worker descheduled for seconds on a loaded machine still gets
    # one (with 5, one worker once took them all while the other was starting)
    sweep = write_sweep(tmp_path, SWEEP.replace("trials: 4", "trials: 8"))
    done = run_cli("sweep", str(sweep), "--out", str(tmp_path / "out"), "--workers", "2",
                   "--storage", postgres_url, "--study", "pg-two-workers")
    assert done.returncode == 0, done.stderr
    trials = _trials(postgres_url, "pg-two-workers")
    assert len(trials) == 8 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert sorted(t.user_attrs["slot"] for t in trials) == list(range(8))
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2
    sweep_dir = only_sweep_dir(tmp_path / "out")
    assert not (sweep_dir / "study.db").exists()  # the study lives in PostgreSQL
    assert json.loads((sweep_dir / "sweep.json").read_text())["storage"] == postgres_url
    assert len(read_csv(sweep_dir / "sweep.csv")) == 8


def test_a_worker_from_elsewhere_joins_a_running_postgres_study(postgres_url, tmp_path):
    # trials of 30 epochs, never pruned (~1 s each): the first worker cannot finish all 8
    # before the second one has started (with 8-epoch, prunable trials it once did)
    sweep = write_sweep(tmp_path, SWEEP.replace("trials: 4", "trials: 8").replace(
        "pruner: {median: {n_startup_trials: 1, n_warmup_steps: 2}}", "pruner: none"),
        BASE.replace("epochs: 8", "epochs: 30"))
    proc = cli("sweep", str(sweep), "--out", str(tmp_path / "out"), "--storage", postgres_url,
               "--study", "pg-join")
    try:
        wait_for(lambda: list((tmp_path / "out").glob("*/sweep.json")))  # the study exists
        joined = run_cli("sweep", "worker", "--storage", postgres_url, "--study", "pg-join",
                         "--threads", "1")
        assert joined.returncode == 0, joined.stderr
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    trials = _trials(postgres_url, "pg-join")
    assert len(trials) == 8 and sorted(t.user_attrs["slot"] for t in trials) == list(range(8))
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2
