"""Experiment configs: the schema (`schema.py`) and safe loading with overrides (`loading.py`)."""

from mlptrain.config.dump import config_to_yaml
from mlptrain.config.loading import (
    apply_overrides,
    load_config,
    parse_yaml,
    read_config_file,
    validate_config,
    with_absolute_paths,
)
from mlptrain.config.schema import ExperimentConfig, resolve_task_loss_output

__all__ = [
    "ExperimentConfig",
    "apply_overrides",
    "config_to_yaml",
    "load_config",
    "parse_yaml",
    "read_config_file",
    "resolve_task_loss_output",
    "validate_config",
    "with_absolute_paths",
]
