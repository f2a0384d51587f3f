"""Write the example CSV files of this folder, deterministically (seeded).

    python data/make_examples.py        # rewrites every file below

flowers.csv: classification with a header and string labels (three made-up species, four
  measurements each, overlapping a little, 300 rows).
housing.csv: regression with two target columns (price, rent) from five features, 400 rows.
customers.csv: binary classification (churned: yes / no) from two numeric and three text
  columns (plan, region with some missing values, payment), 600 rows.
customers-new.csv: three rows to predict on, one with a plan ("enterprise") and one with a
  payment ("crypto") that customers.csv never holds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20240601


def flowers(rng: np.random.Generator, n_per_class: int = 100) -> list[list]:
    species = {  # mean petal_length, petal_width, sepal_length, sepal_width
        "bluebell": (1.5, 0.3, 5.0, 3.4),
        "foxglove": (4.3, 1.3, 5.9, 2.8),
        "lupin": (5.6, 2.0, 6.6, 3.0),
    }
    rows = []
    for name, means in species.items():
        values = rng.normal(means, (0.25, 0.15, 0.45, 0.35), size=(n_per_class, 4))
        rows += [[*np.round(v, 2).tolist(), name] for v in values]
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def housing(rng: np.random.Generator, n: int = 400) -> list[list]:
    area = rng.uniform(30, 200, n)  # m^2
    rooms = np.clip(np.round(area / 25 + rng.normal(0, 0.7, n)), 1, 9)
    age = rng.uniform(0, 80, n)  # years
    distance = rng.exponential(8, n)  # km to the centre
    floor = rng.integers(0, 12, n)
    price = 3.2 * area + 9 * rooms - 0.9 * age - 6 * np.sqrt(distance) + rng.normal(0, 15, n)
    rent = 0.011 * area + 0.02 * rooms - 0.004 * age - 0.05 * distance + rng.normal(0, 0.1, n)
    columns = (area, rooms, age, distance, floor, price, rent)
    return [np.round(values, 2).tolist() for values in np.column_stack(columns)]


PLANS = {"basic": 1.0, "standard": 0.0, "premium": -1.0}  # effect on churn (log-odds)
REGIONS = {"north": 0.0, "south": 0.4, "east": -0.3, "west": 0.2}
PAYMENTS = {"card": -0.4, "invoice": 0.3, "cash": 0.8}


def customers(rng: np.random.Generator, n: int = 600) -> list[list]:
    tenure = rng.integers(1, 73, n)  # months
    fee = np.round(rng.uniform(10, 120, n), 2)
    plan = rng.choice(list(PLANS), n)
    region = rng.choice(list(REGIONS), n).astype(object)
    payment = rng.choice(list(PAYMENTS), n, p=[0.5, 0.3, 0.2])
    logit = (1.2 - 0.05 * tenure + 0.015 * fee + np.array([PLANS[v] for v in plan])
             + np.array([REGIONS[v] for v in region]) + np.array([PAYMENTS[v] for v in payment])
             - 1.0)
    churned = rng.random(n) < 1 / (1 + np.exp(-2 * logit))
    region[rng.random(n) < 0.08] = ""  # missing: a category of its own
    return [[int(t), float(f), str(p), str(r), str(m), "yes" if c else "no"]
            for t, f, p, r, m, c in zip(tenure, fee, plan, region, payment, churned, strict=True)]


CUSTOMERS_HEADER = ["tenure", "monthly_fee", "plan", "region", "payment", "churned"]
NEW_CUSTOMERS = [[3, 95.0, "basic", "south", "cash"],
                 [60, 25.5, "enterprise", "north", "card"],
                 [24, 60.0, "standard", "", "crypto"]]


def write(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = np.random.default_rng(SEED)
    write(HERE / "flowers.csv",
          ["petal_length", "petal_width", "sepal_length", "sepal_width", "species"], flowers(rng))
    write(HERE / "housing.csv",
          ["area", "rooms", "age", "distance", "floor", "price", "rent"], housing(rng))
    write(HERE / "customers.csv", CUSTOMERS_HEADER, customers(rng))
    write(HERE / "customers-new.csv", CUSTOMERS_HEADER[:-1], NEW_CUSTOMERS)


if __name__ == "__main__":
    main()
