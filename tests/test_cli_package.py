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
