"""The CLI package: one module per command, all registered, and a start that stays light."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import mlptrain.cli
from mlptrain.cli import COMMANDS, app

SHARED = {"app", "common"}  # the modules of mlptrain/cli/ that are not commands


def test_every_command_module_is_registered():
    modules = {m.name for m in pkgutil.iter_modules(mlptrain.cli.__path__)} - SHARED
    registered = {c.__name__.rsplit(".", 1)[1] for c in COMMANDS}
    assert registered == modules


def test_the_app_has_every_command_of_the_readme_once():
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    groups = [g.name for g in app.registered_groups]
    assert sorted(names + groups) == sorted(
        ["train", "sweep", "eval", "gradcheck", "predict", "inspect", "plot", "runs", "export",
         "config"])


def test_help_imports_neither_numpy_nor_the_library():
    code = ("import sys\nfrom mlptrain.cli import main\nsys.argv = ['mlptrain', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('numpy', 'pydantic', 'mlptrain.training', 'mlptrain.config')"
            " if m in sys.modules]\nprint('HEAVY', heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "mlptrain", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.startswith("mlptrain ")


def test_a_named_command_runs_in_an_app_holding_it_alone():
    from mlptrain.cli import app_for

    for argv in (["train", "x.yaml"], ["eval"], ["config", "show"], ["runs", "diff"]):
        only = app_for(argv)
        held = [c.name or c.callback.__name__ for c in only.registered_commands]
        held += [g.name for g in only.registered_groups]
        assert held in (["train"], ["eval"], ["config"], ["runs"]) and held[0] == argv[0]
        assert only.registered_callback is not None  # still a group: `mlptrain NAME ...`
    for argv in ([], ["--help"], ["--version"], ["trian"], ["-q", "train"]):
        assert app_for(argv) is app


def test_a_command_alone_parses_helps_and_fails_as_in_the_full_app(tmp_path):
    from typer.testing import CliRunner

    from mlptrain.cli import app_for

    runner = CliRunner()
    cases = [["train", "--help"], ["train"], ["train", "--bogus"], ["train", "x.yaml", "--threads", "0"],
             ["train", str(tmp_path / "missing.yaml")], ["eval", "--help"], ["eval"],
             ["config", "--help"], ["config", "show", "--help"], ["sweep", "--help"],
             ["runs", str(tmp_path / "none")], ["export", "--help"], ["gradcheck", "--help"]]
    for argv in cases:
        full = runner.invoke(app, argv, terminal_width=100)
        alone = runner.invoke(app_for(argv), argv, terminal_width=100)
        assert (alone.exit_code, alone.output) == (full.exit_code, full.output), argv
        assert full.output  # every case prints something to compare
