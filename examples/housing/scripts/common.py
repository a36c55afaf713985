"""Shared by train.py and evaluate.py: reading the CSVs and the model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

NAMES = ("area", "rooms", "age", "distance")  # the CSV's columns before `price`
FEATURES = len(NAMES)


def load_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    return data[:, :FEATURES], data[:, FEATURES]


class PriceMLP(nn.Module):
    """Standardises its inputs itself, so the served model takes raw feature rows."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Linear(FEATURES, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1)
