"""Command-style evaluation (`evaluate.command`): predicts $LEPTON_DATA with the trained
model and writes $LEPTON_OUTPUT_DIR/predictions.npz (y_true, outputs, latency_ms per batch)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import load_csv


def main() -> None:
    params = json.loads(os.environ.get("LEPTON_PARAMS", "{}"))
    model = torch.jit.load(str(Path(os.environ["LEPTON_MODEL_DIR"]) / "model.pt")).eval()
    x, y = load_csv(os.environ["LEPTON_DATA"])
    batch = int(params.get("batch_size", 50))
    outputs, latency = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            start = time.perf_counter()
            outputs.append(model(torch.from_numpy(x[i : i + batch])).numpy())
            latency.append((time.perf_counter() - start) * 1000.0)
    out = Path(os.environ["LEPTON_OUTPUT_DIR"]) / "predictions.npz"
    np.savez(out, y_true=y, outputs=np.concatenate(outputs), latency_ms=np.array(latency))


if __name__ == "__main__":
    main()
