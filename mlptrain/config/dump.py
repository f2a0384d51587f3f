"""The resolved config as YAML: what `config show` prints and a run directory's config.yaml.

Sections are written in block style and lists of plain values in flow style (`hidden: [64,
64]`), as the shipped configs are. `auto` choices are written resolved where a config value
can say the same thing: the monitors' `mode` becomes min or max, and `init: auto` becomes the
one initializer every layer gets (xavier_uniform when no hidden layer is of the relu family);
when layers get different ones (he_normal for relu hidden layers, xavier_uniform for the output
layer) `auto` stays, followed by a comment naming them. Keys the data source does not read
(`n_samples` for a CSV file, `delimiter` for spiral) are left out. Loading the text back
gives the same run: every value left out is a default the run never reads.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlptrain.config.schema import FILE_SOURCES, IMAGE_SOURCES, SYNTHETIC_SOURCES, ExperimentConfig

# The data keys that only some sources read.
_SOURCE_KEYS = {
    "synthetic": ("n_samples", "n_classes", "n_features", "noise"),
    "file": ("target", "features", "header", "delimiter", "x_key", "y_key"),
    "named": ("mirrors", "download"),
    "paths": ("path", "train_path", "val_path", "test_path"),
}
_READS = {  # which groups of keys each kind of source reads
    "synthetic": ("synthetic",),
    "file": ("file", "paths"),
    "named": ("named", "paths"),
}


class _ConfigDumper(yaml.SafeDumper):
    """Block-style mappings, flow-style lists of plain values."""


def _represent_list(dumper: yaml.SafeDumper, value: list | tuple) -> yaml.Node:
    flat = all(not isinstance(item, dict | list | tuple) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


def _represent_dict(dumper: yaml.SafeDumper, value: dict) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)


_ConfigDumper.add_representer(list, _represent_list)
_ConfigDumper.add_representer(tuple, _represent_list)
_ConfigDumper.add_representer(dict, _represent_dict)


def config_to_yaml(cfg: ExperimentConfig) -> str:
    """The resolved config as YAML, in schema order (see the module docstring)."""
    raw = cfg.model_dump(mode="json")
    _drop_unread_data_keys(raw["data"])
    _resolve_modes(raw)
    init_note = _resolve_init(raw["model"])
    text = yaml.dump(raw, Dumper=_ConfigDumper, sort_keys=False, width=100, allow_unicode=True)
    if init_note:
        text = text.replace("\n  init: auto\n", f"\n  init: auto  # {init_note}\n", 1)
    return text


def _drop_unread_data_keys(data: dict[str, Any]) -> None:
    source = data["source"]
    kind = ("synthetic" if source in SYNTHETIC_SOURCES else
            "named" if source in IMAGE_SOURCES else "file" if source in FILE_SOURCES else None)
    if kind is None:
        return
    for group, keys in _SOURCE_KEYS.items():
        if group not in _READS[kind]:
            for key in keys:
                data.pop(key, None)


def _resolve_modes(raw: dict[str, Any]) -> None:
    """`mode: auto` -> min or max, from the monitored metric (metrics.monitor_mode)."""
    from mlptrain.metrics import monitor_mode

    train = raw["train"]
    for section in (train["checkpoint"], train["early_stopping"], raw["schedule"]):
        if isinstance(section, dict) and section.get("mode") == "auto":
            section["mode"] = monitor_mode(section["monitor"], "auto")


def _resolve_init(model: dict[str, Any]) -> str | None:
    """Write `init: auto` as the initializer it gives every layer; when the layers get
    different ones, keep `auto` and return the comment that names them."""
    from mlptrain.nn.initializers import default_init

    if model["init"] != "auto":
        return None
    hidden = model["activation"]
    if isinstance(hidden, str):
        hidden = [hidden] * len(model["hidden"])
    output_init = default_init("identity")  # the output layer's, whatever its activation
    hidden_inits = {default_init(a) for a in hidden}
    if hidden_inits <= {output_init}:
        model["init"] = output_init
        return None
    relu_like = sorted({a for a in hidden if default_init(a) != output_init})
    others = ("the output layer" if len(hidden_inits) == 1 else
              "the other hidden layers and the output layer")
    return (f"{' and '.join(sorted(hidden_inits - {output_init}))} for the "
            f"{', '.join(relu_like)} hidden layers, {output_init} for {others}")
