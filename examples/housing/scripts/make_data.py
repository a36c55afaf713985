"""Generate the committed house-price CSVs (synthetic, deterministic).

Run `python scripts/make_data.py`.
Nothing is downloaded: price is a smooth function of four features plus noise.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = ["area", "rooms", "age", "distance", "price"]


def generate(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 200, n)
    rooms = rng.integers(1, 7, n).astype(float)
    age = rng.uniform(0, 80, n)
    distance = rng.uniform(0.5, 30, n)
    price = (
        2.0 * area + 15.0 * rooms - 0.8 * age - 40.0 * np.log(distance) + 0.01 * area * rooms
    ) / 100.0 + rng.normal(0, 0.1, n)
    return np.column_stack([area, rooms, age, distance, price])


def write(path: Path, rows: np.ndarray) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        out.writerows([[f"{v:.4f}" for v in row] for row in rows])


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[1] / "data"
    write(here / "train.csv", generate(800, seed=1))
    write(here / "test.csv", generate(200, seed=2))
