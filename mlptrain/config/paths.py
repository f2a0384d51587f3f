"""Where the relative paths of a config point: the config file's folder, or the working directory.

A path written in a config file is relative to the folder of that file (as in most tools), so
`mlptrain train /abs/configs/x.yaml` finds `data: {path: ../data/x.csv}` from any working
directory. A path given on the command line (an override, `--out`) or left at its default
(`run.root: runs`) is relative to the working directory, where the user typed it. Every path
ends up absolute in the resolved config, so a run directory is self-contained: `eval`,
`inspect`, `--resume` work from any folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KeyPath = tuple[str, ...]

PATH_KEYS: tuple[KeyPath, ...] = (
    ("data", "path"),
    ("data", "train_path"),
    ("data", "val_path"),
    ("data", "test_path"),
    ("run", "root"),
)


CONFIG_SUFFIXES = (".yaml", ".yml")


def is_config_file(target: str | Path) -> bool:
    """Whether a command's TARGET names a YAML config (else a checkpoint or run directory)."""
    return Path(target).suffix.lower() in CONFIG_SUFFIXES


def absolute(value: str, base: Path) -> str:
    """`value` (~ expanded) joined onto `base` unless already absolute, normalized."""
    path = Path(value).expanduser()
    return os.path.normpath(path if path.is_absolute() else Path(base).absolute() / path)


def resolve_paths(raw: dict, base: Path, keys: Iterable[KeyPath] = PATH_KEYS) -> None:
    """Make the relative path strings at `keys` of a raw config mapping absolute against `base`
    (in place). Anything that is not a non-empty string is left for the schema to judge."""
    for key in keys:
        parent: Any = raw
        for part in key[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and isinstance(parent.get(key[-1]), str) and parent[key[-1]]:
            parent[key[-1]] = absolute(parent[key[-1]], base)


def keys_under(applied: Iterable[KeyPath]) -> list[KeyPath]:
    """The path keys that overrides at `applied` key paths set (`data.path` or all of `data`)."""
    applied = list(applied)
    return [key for key in PATH_KEYS if any(key[: len(a)] == a for a in applied)]
