"""Curves as one line of text: a sparkline of block characters (▁▂▃▄▅▆▇█).

Values are resampled to at most `width` points (the mean of each of `width` equal slices of
the series), then mapped linearly, or on a log scale, from [low, high] onto the eight
block heights: level = round((v - low) / (high - low) * 7). Several curves drawn with the
same `low` and `high` can be compared by eye. NaN and infinite values are blanks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def resample(values: Sequence[float], width: int) -> list[float]:
    """At most `width` points: slice i is values[floor(i n / w) : floor((i + 1) n / w)], and
    each point is the mean of its slice's finite values (NaN if it has none)."""
    n = len(values)
    if n <= width:
        return [float(v) for v in values]
    out = []
    for i in range(width):
        chunk = [v for v in values[i * n // width : (i + 1) * n // width] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def bounds(curves: Sequence[Sequence[float]], log: bool = False) -> tuple[float, float] | None:
    """(low, high) over the finite values of every curve (positive ones on a log scale)."""
    finite = [v for c in curves for v in c if math.isfinite(v) and (v > 0 or not log)]
    return (min(finite), max(finite)) if finite else None


def sparkline(values: Sequence[float], width: int = 40, low: float | None = None,
              high: float | None = None, log: bool = False) -> str:
    """`values` as a string of at most `width` block characters (see the module docstring)."""
    points = resample(values, width)
    if low is None or high is None:
        found = bounds([points], log)
        if found is None:
            return " " * len(points)
        low, high = found
    scale = math.log if log else float
    lo, hi = scale(low), scale(high)
    chars = []
    for v in points:
        if not math.isfinite(v) or (log and v <= 0):
            chars.append(" ")
            continue
        frac = 0.0 if hi == lo else (scale(v) - lo) / (hi - lo)
        chars.append(BLOCKS[min(7, max(0, round(frac * 7)))])
    return "".join(chars)
