"""Seeded hold-out splits: a fraction of the samples set aside, stratified by class if asked.

Indices come back sorted, so every split keeps the source's order ("the first N training
samples" of `data.limit` are the first N of the file). The held-out count is
round(fraction * n), at least 1 when the fraction is positive; with stratification it is
shared between the classes in proportion to their sizes (largest remainders), so every
class keeps its share in both parts to within one sample.
"""

from __future__ import annotations

import numpy as np


def holdout_count(n: int, fraction: float) -> int:
    """How many of n samples a hold-out of `fraction` takes (>= 1 if fraction > 0)."""
    if fraction <= 0.0 or n == 0:
        return 0
    return min(n, max(1, int(round(fraction * n))))


def _per_class_quota(counts: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to counts that sum to total (largest remainder). (k,)"""
    exact = counts * (total / counts.sum())  # (k,)
    quota = np.floor(exact).astype(np.int64)
    short = total - quota.sum()
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:short]] += 1
    return np.minimum(quota, counts)


def holdout(
    n: int,
    fraction: float,
    rng: np.random.Generator,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split range(n) into (kept, held) sorted index arrays; held has ~fraction * n samples.

    labels: (n,) class ids to stratify by, or None for a plain random hold-out.
    """
    total = holdout_count(n, fraction)
    if labels is None:
        held = rng.permutation(n)[:total]
    else:
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        quota = _per_class_quota(counts, total)
        held_parts = []
        for c in range(len(classes)):
            members = np.flatnonzero(inverse == c)  # (count_c,)
            held_parts.append(rng.permutation(members)[: quota[c]])
        held = np.concatenate(held_parts) if held_parts else np.empty(0, np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def stratify_labels(y: np.ndarray) -> np.ndarray | None:
    """Labels to stratify by: class ids (n,), or a single 0/1 column (n, 1); else None."""
    if y.ndim == 1:
        return y
    if y.shape[1] == 1 and np.isin(y, (0.0, 1.0)).all():
        return y[:, 0]
    return None
