"""bench/threads.py's table from a hand-made measurement (no timing is measured or asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_threads_table_gives_min_and_median_ms_the_ratio_of_minima_and_autos_pick():
    sys.path.insert(0, str(BENCH))
    try:
        import threads
    finally:
        sys.path.remove(str(BENCH))
    result = {"cores": 2, "blas": [{"internal_api": "openblas", "version": "0.3",
                                    "architecture": "Haswell"}],
              "rows": [{"shape": [64, [100], 10, 200], "flops": 6.32e6, "auto": 1,
                        "times": {"1": [0.003, 0.004, 0.005], "2": [0.006, 0.002, 0.010]}}]}
    table = threads.render(result, repeats=3, steps=60, busy=True)
    assert "one competing CPU-bound process" in table and "openblas 0.3, kernel Haswell" in table
    # min 3 ms (median 4) at 1 thread, min 2 ms (median 6) at 2: ratio of minima 1.5
    assert "| 64-100-10 | 200 | 6.32 | 3.000 (4.000) | 2.000 (6.000) | 1.50 | 1 |" in table
