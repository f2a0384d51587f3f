"""bench/steady.py's table from a hand-made measurement (no timing is measured or asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _steady():
    sys.path.insert(0, str(BENCH))
    try:
        import steady
    finally:
        sys.path.remove(str(BENCH))
    return steady


def test_the_steady_table_leaves_the_warm_up_out_and_reads_the_idle_epochs_apart():
    epochs = [{"seconds": 9.0, "others": 0.0},  # the warm-up: left out
              {"seconds": 0.50, "others": 0.02}, {"seconds": 2.00, "others": 0.95},
              {"seconds": 0.55, "others": 0.05}, {"seconds": 0.60, "others": 0.30}]
    result = {"cores": 2, "blas": [{"internal_api": "openblas", "version": "0.3",
                                    "architecture": "Haswell"}],
              "runs": [{"batch": 32, "threads": "auto", "count": 1, "why": "-",
                        "epochs": epochs}]}
    table = _steady().render(result, n_epochs=5, load=(0.5, 0.25, 1.0))
    assert "epochs 2-5 of 5" in table and "load average before 0.50 0.25 1.00" in table
    # all measured epochs: 0.50-2.00 s (median of 0.50 0.55 0.60 2.00 = 0.575), spread 4.00;
    # idle (others < 0.1): 0.50 and 0.55, spread 1.10
    assert ("| 32 | auto (1) | 0.500 / 0.575 / 2.000 | 4.00 | 0.02 0.95 0.05 0.30 | "
            "0.500 / 0.550 | 1.10 |") in table


def test_fewer_than_two_idle_epochs_give_no_idle_spread():
    result = {"cores": 2, "blas": [], "runs": [{"batch": 128, "threads": "2", "count": 2,
                                                "why": "-", "epochs": [
                                                    {"seconds": 1.0, "others": 0.0},
                                                    {"seconds": 0.6, "others": 0.9},
                                                    {"seconds": 0.5, "others": 0.0}]}]}
    table = _steady().render(result, n_epochs=3, load=(0.0, 0.0, 0.0))
    assert "| 128 | 2 | 0.500 / 0.550 / 0.600 | 1.20 | 0.90 0.00 | 1 idle epoch(s) | - |" in table
