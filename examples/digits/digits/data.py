"""Loading the prepared digits arrays (see ../prepare_data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset


def load(path: Path) -> TensorDataset:
    """Images scaled to [0, 1] as (n, 1, 8, 8) float tensors, labels as int64."""
    with np.load(path) as arrays:
        images = torch.from_numpy(arrays["x"].astype(np.float32) / 16.0).unsqueeze(1)
        labels = torch.from_numpy(arrays["y"].astype(np.int64))
    return TensorDataset(images, labels)
