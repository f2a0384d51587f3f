"""Synthetic datasets, generated deterministically from an explicitly passed Generator.

Each generator returns `(X, y)`: X float32 `(n_samples, n_features)`, y int64 class ids
`(n_samples,)` for the classification sets and float32 `(n_samples, 1)` for `sine`. Samples
come out in a random (seeded) order, so that "the first N" is a fair subsample.

| name    | task           | shape of X | what |
| ------- | -------------- | ---------- | ---- |
| spiral  | classification | (n, 2)     | n_classes interleaved arms (CS231n); no line separates them |
| xor     | classification | (n, 2)     | four Gaussian clusters at (+-1, +-1), label = sign(x0) != sign(x1) |
| moons   | classification | (n, 2)     | two interleaving half circles |
| circles | classification | (n, 2)     | a circle of radius 0.5 inside one of radius 1 |
| blobs   | classification | (n, d)     | n_classes Gaussian clusters, centres uniform in [-2, 2]^d |
| sine    | regression     | (n, 1|2)   | y = sin(x0) (1-D) or sin(x0) * cos(x1) (2-D), x uniform in [-pi, pi] |

`noise` is the standard deviation of the Gaussian noise: on the angle for spiral (CS231n uses
0.2), on the coordinates for xor, moons, circles and blobs, on the target for sine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlptrain.errors import DataError


@dataclass(frozen=True)
class SyntheticSpec:
    """The knobs every generator reads (the synthetic fields of `DataConfig`)."""

    n_samples: int = 1500
    n_classes: int = 3
    n_features: int = 2
    noise: float = 0.2


Generator = Callable[[SyntheticSpec, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _per_class(n_samples: int, n_classes: int) -> np.ndarray:
    """Class sizes that add up to n_samples, as equal as possible. (n_classes,)"""
    sizes = np.full(n_classes, n_samples // n_classes)
    sizes[: n_samples % n_classes] += 1
    return sizes


def _shuffled(X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    order = rng.permutation(len(X))
    return X[order].astype(np.float32), y[order]


def spiral(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CS231n's spiral: arm j has radius 0..1 and angle 4j..4(j+1) plus noise."""
    xs, ys = [], []
    for j, size in enumerate(_per_class(spec.n_samples, spec.n_classes)):
        r = np.linspace(0.0, 1.0, size)  # (size,)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, size) + rng.normal(0.0, 1.0, size) * spec.noise
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))  # (size, 2)
        ys.append(np.full(size, j, dtype=np.int64))
    return _shuffled(np.concatenate(xs), np.concatenate(ys), rng)


def xor(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four clusters at the corners (+-1, +-1); opposite corners share a class."""
    corners = rng.integers(0, 2, size=(spec.n_samples, 2))  # (n, 2) of 0/1
    X = (2.0 * corners - 1.0) + rng.normal(0.0, spec.noise, size=(spec.n_samples, 2))
    y = (corners[:, 0] != corners[:, 1]).astype(np.int64)
    return _shuffled(X, y, rng)


def moons(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's make_moons)."""
    n_out, n_in = _per_class(spec.n_samples, 2)
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)])
    X = np.concatenate([outer, inner]) + rng.normal(0.0, spec.noise, size=(spec.n_samples, 2))
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return _shuffled(X, y, rng)


def circles(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius 1 (class 0) around one of radius 0.5 (class 1)."""
    n_out, n_in = _per_class(spec.n_samples, 2)
    t_out = np.linspace(0.0, 2.0 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0.0, 2.0 * np.pi, n_in, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = 0.5 * np.column_stack([np.cos(t_in), np.sin(t_in)])
    X = np.concatenate([outer, inner]) + rng.normal(0.0, spec.noise, size=(spec.n_samples, 2))
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return _shuffled(X, y, rng)


def blobs(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n_classes isotropic Gaussian clusters (std = noise) in n_features dimensions."""
    centres = rng.uniform(-2.0, 2.0, size=(spec.n_classes, spec.n_features))  # (k, d)
    y = np.repeat(np.arange(spec.n_classes), _per_class(spec.n_samples, spec.n_classes))
    X = centres[y] + rng.normal(0.0, spec.noise, size=(spec.n_samples, spec.n_features))
    return _shuffled(X, y.astype(np.int64), rng)


def sine(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy regression: y = sin(x0) for 1 feature, sin(x0) * cos(x1) for 2. y: (n, 1)"""
    if spec.n_features not in (1, 2):
        raise DataError(
            f"sine supports data.n_features 1 or 2, got {spec.n_features}", path="data.n_features"
        )
    X = rng.uniform(-np.pi, np.pi, size=(spec.n_samples, spec.n_features))
    clean = np.sin(X[:, 0]) if spec.n_features == 1 else np.sin(X[:, 0]) * np.cos(X[:, 1])
    y = clean + rng.normal(0.0, spec.noise, size=spec.n_samples)  # (n,)
    return X.astype(np.float32), y.astype(np.float32)[:, None]


GENERATORS: dict[str, Generator] = {
    "spiral": spiral,
    "xor": xor,
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "sine": sine,
}


def class_count(name: str, n_classes: int) -> int | None:
    """How many classes the synthetic set `name` has with `data.n_classes`: xor, moons and
    circles always 2, spiral and blobs n_classes, sine none (None: a regression set)."""
    if name == "sine":
        return None
    return n_classes if name in ("spiral", "blobs") else 2


def make_synthetic(
    name: str, spec: SyntheticSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the synthetic set `name` (a key of GENERATORS) from `rng`."""
    if name not in GENERATORS:
        raise DataError(
            f"unknown synthetic dataset {name!r}; known: {', '.join(GENERATORS)}", path="data.source"
        )
    if spec.n_samples < 2:
        raise DataError(f"data.n_samples must be at least 2, got {spec.n_samples}")
    return GENERATORS[name](spec, rng)
