"""The README stays true: its Python examples run, and every command it shows exists."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlptrain.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(code_blocks("python"))))
def test_readme_python_example_runs(index, tmp_path, monkeypatch):
    block = code_blocks("python")[index]
    if "import torch" in block:  # the PyTorch export example: torch is optional
        pytest.importorskip("torch")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the torch example imports its model.py
    monkeypatch.setitem(sys.modules, "model", None)
    del sys.modules["model"]
    exec(compile(block, f"README.md python block {index}", "exec"), {})


def readme_commands() -> list[list[str]]:
    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("mlptrain "):
                words = line.split()[1:]
                subcommand = words[:2] if words[0] == "config" else words[:1]
                commands.append(subcommand)
    return commands


@pytest.mark.parametrize("command", readme_commands(), ids=" ".join)
def test_readme_command_exists(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("index", range(len(code_blocks("yaml"))))
def test_readme_yaml_config_is_valid(index):
    import yaml

    from mlptrain.config import validate_config

    validate_config(yaml.safe_load(code_blocks("yaml")[index]), source="README.md")


@pytest.mark.parametrize("index", range(len(code_blocks("yaml"))))
def test_readme_yaml_config_validates_against_the_json_schema(index):
    import json

    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    result = CliRunner().invoke(app, ["config", "schema"])
    validator = jsonschema.Draft202012Validator(json.loads(result.output))
    config = yaml.safe_load(code_blocks("yaml")[index])
    assert [e.message for e in validator.iter_errors(config)] == []
