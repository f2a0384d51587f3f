"""Typed errors raised by the library; `mlptrain.cli` turns them into a message and an exit code.

Library code never prints or exits. Every error that is the user's input (a config, a data
file, a checkpoint) is a `UserError` with exit code 2; a check that ran and failed (a gradient
check, a diverged run) exits with 1.
"""

from __future__ import annotations

from pathlib import Path


class MlptrainError(Exception):
    """Base class of every error mlptrain raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        text = f"{where}{self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class UserError(MlptrainError):
    """Bad input from the user: exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """An experiment config that cannot be read or does not validate."""


class DataError(UserError):
    """A data file or source that cannot be read, or holds invalid values."""


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, not mlptrain's, or from a newer version."""


class RunDirError(UserError):
    """A run directory that is missing, incomplete, or would be overwritten."""


class CheckFailed(MlptrainError):
    """A check that ran and failed (gradcheck): exit code 1."""

    exit_code = 1


class DivergenceError(CheckFailed):
    """Training stopped because the loss became NaN, infinite, or exploded."""


class DataWarning(UserWarning):
    """Data the library used anyway, with a caveat the user should see (e.g. a category
    not seen in training, encoded as all zeros); the CLI prints it as `warning: ...`."""
