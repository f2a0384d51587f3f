"""What a network is and how its signal flows: the architecture and activation statistics.

For a config the network is built as training would build it and looked at *at
initialization*; for a checkpoint, at its saved weights. Per dense layer: shape, activation,
parameter count and FLOPs per sample (a multiply-add counts 2: ``2 fan_in fan_out``); in total,
parameters and their memory (``n_params * itemsize``; Adam keeps two more such buffers).

Then, as in the weight-initialization slide of the course (CS231n: "input layer had mean 0.0018
and std 1.0013, hidden layer 1 had mean 0.0012 and std 0.628, ..."), a batch of real data is
pushed through and the mean and std of every hidden layer's activations are reported, with a
warning when the signal

- vanishes: ``std < VANISH_STD`` (1e-2): later layers see ~0 and gradients die with it;
- explodes: ``std > EXPLODE_STD`` (1e2), or grows by more than ``GROWTH`` (x10) over one layer;
- saturates: more than half of sigmoid/tanh units are flat (``saturated_fraction > 0.5``),
  e.g. a sigmoid network initialized with N(0, 1) weights instead of Xavier's;
- is dead: more than half of relu units are <= 0 on the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

VANISH_STD = 1e-2
EXPLODE_STD = 1e2
GROWTH = 10.0
SATURATED = 0.5
DEAD = 0.5
INSPECT_BATCH = 512


@dataclass
class Inspection:
    """The architecture table, totals, activation statistics and warnings."""

    source: str
    weights: str  # "initialization" or "checkpoint"
    layers: list[dict[str, Any]]
    n_params: int
    dtype: str
    input_stats: dict[str, float]
    activations: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def memory_bytes(self) -> int:
        return self.n_params * np.dtype(self.dtype).itemsize

    @property
    def flops(self) -> int:
        return sum(row["flops"] for row in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "weights": self.weights, "dtype": self.dtype,
                "n_params": self.n_params, "memory_bytes": self.memory_bytes,
                "flops_per_sample": self.flops, "layers": self.layers,
                "input": self.input_stats, "activations": self.activations,
                "warnings": self.warnings}


def inspect_target(target: str | Path, overrides: list[str] | None = None,
                   batch: int = INSPECT_BATCH) -> Inspection:
    """A YAML config (at initialization) or a checkpoint / run directory (its weights)."""
    from mlptrain.config.paths import is_config_file
    from mlptrain.errors import ConfigError

    if is_config_file(target):
        net, X, rng = _from_config(target, overrides or [], batch)
        weights, training = "initialization", True  # as the first training step sees it
    else:
        if overrides:
            raise ConfigError("overrides apply to a config, not to a checkpoint")
        net, X, rng = _from_checkpoint(target, batch)
        weights, training = "checkpoint", False
    net.forward(X, training=training, rng=rng)
    stats = net.activation_stats()
    layers = net.layer_summaries()
    for row in layers:
        row["shape"] = [row["fan_in"], row["fan_out"]]
    return Inspection(str(target), weights, layers, net.n_params, str(net.dtype),
                      {"mean": float(X.mean()), "std": float(X.std())}, stats,
                      signal_warnings(stats))


def _from_config(path, overrides: list[str], batch: int):
    from mlptrain.assembly import resolve_against_data
    from mlptrain.builders import adapt_targets, build_model
    from mlptrain.config import load_config
    from mlptrain.data import load_data
    from mlptrain.streams import generator

    cfg = load_config(path, overrides)
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    cfg = resolve_against_data(cfg, bundle)
    bundle = adapt_targets(bundle, cfg.loss.kind)
    net = build_model(cfg, bundle)
    X = bundle.preprocessor.transform(bundle.train.X[:batch], dtype=net.dtype)
    return net, X, generator(cfg.seed, "dropout")


def _from_checkpoint(target, batch: int):
    from mlptrain.evaluation import load_model, load_split

    model = load_model(target)
    X_raw, _, _ = load_split(model, model.cfg, "train")
    return model.net, model.preprocessor.transform(X_raw[:batch], dtype=model.net.dtype), None


def signal_warnings(stats: list[dict[str, Any]]) -> list[str]:
    """Warnings about vanishing, exploding, saturated or dead activations, layer by layer."""
    warnings = []
    previous = None
    for row in stats:
        name, std = row["name"], row["std"]
        if std < VANISH_STD:
            warnings.append(f"{name}: activations vanish (std {std:.2e} < {VANISH_STD:g}); "
                            "the init scale is too small for this depth")
        elif std > EXPLODE_STD:
            warnings.append(f"{name}: activations explode (std {std:.3g} > {EXPLODE_STD:g})")
        elif previous is not None and previous > 0 and std / previous > GROWTH:
            warnings.append(f"{name}: activation std grows x{std / previous:.3g} over one layer "
                            f"({previous:.3g} -> {std:.3g}); it will explode with depth")
        if (row.get("saturated_fraction") or 0.0) > SATURATED:
            warnings.append(f"{name}: {row['saturated_fraction']:.0%} of {row['activation']} "
                            "units are saturated (flat, gradient ~0); use xavier init or "
                            "a smaller init scale")
        if (row.get("dead_fraction") or 0.0) > DEAD:
            warnings.append(f"{name}: {row['dead_fraction']:.0%} of {row['activation']} units "
                            "are dead (<= 0 on every sample)")
        previous = std
    return warnings
