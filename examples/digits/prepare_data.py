"""Regenerate ``data/train.npz`` and ``data/test.npz`` from scikit-learn's bundled digits.

The prepared files are committed so training never needs scikit-learn or a download; run this
only to rebuild them (the split is seeded, so the output is byte-for-byte stable):

    pip install scikit-learn && python prepare_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).parent


def main() -> None:
    digits = load_digits()
    images = digits.images.astype(np.uint8)  # 8x8, values 0..16
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        digits.target.astype(np.int64),
        test_size=0.25,
        random_state=0,
        stratify=digits.target,
    )
    out = HERE / "data"
    out.mkdir(exist_ok=True)
    np.savez_compressed(out / "train.npz", x=x_train, y=y_train)
    np.savez_compressed(out / "test.npz", x=x_test, y=y_test)
    print(f"train: {len(y_train)} images, test: {len(y_test)} images -> {out}")


if __name__ == "__main__":
    main()
