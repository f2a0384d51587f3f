"""bench/threads.py's table from a hand-made measurement (no timing is measured or asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_threads_table_gives_min_median_max_ms_autos_counts_and_auto_over_the_best():
    sys.path.insert(0, str(BENCH))
    try:
        import threads
    finally:
        sys.path.remove(str(BENCH))
    result = {"cores": 2, "blas": [{"internal_api": "openblas", "version": "0.3",
                                    "architecture": "Haswell"}],
              "rows": [{"shape": [64, [100], 10, 200], "flops": 6.32e6, "auto": [1, 2, 1],
                        "times": {"1": [0.003, 0.004, 0.005], "2": [0.006, 0.002, 0.010],
                                  "auto": [0.005, 0.003, 0.0044]}}]}
    table = threads.render(result, repeats=3, steps=60, busy=True)
    assert "one competing CPU-bound process" in table and "openblas 0.3, kernel Haswell" in table
    # minima 3, 2, 3 ms: 3 / 2 = 1.50; medians 4 ms at 1 thread, 6 at 2, 4.4 auto: 4.4 / 4 = 1.10
    assert ("| 64-100-10 | 200 | 6.32 | 3.000 / 4.000 / 5.000 | 2.000 / 6.000 / 10.000 | "
            "3.000 / 4.400 / 5.000 | 1 2 1 | 1.50; 1.10 |") in table
