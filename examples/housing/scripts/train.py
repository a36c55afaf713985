"""Command-style training (`train.command` in lepton.yaml): reads LEPTON_* variables,
writes a TorchScript `model.pt`, `input_example.json` (one request for the deploy's smoke
test) and `drift_reference.npz` (the training inputs and predictions that served traffic is
compared with, docs/monitoring.md#drift) into $LEPTON_OUTPUT_DIR."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import NAMES, PriceMLP, load_csv


def main() -> None:
    params = json.loads(os.environ.get("LEPTON_PARAMS", "{}"))
    torch.manual_seed(int(os.environ.get("LEPTON_SEED", "0")))
    x, y = load_csv(os.environ["LEPTON_DATA"].split(":")[0])
    model = PriceMLP(x.mean(axis=0), x.std(axis=0) + 1e-6, int(params.get("hidden", 32)))
    opt = torch.optim.Adam(model.parameters(), lr=float(params.get("lr", 0.01)))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batch = int(params.get("batch_size", 64))
    epochs = int(params.get("epochs", 60))
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    out = Path(os.environ["LEPTON_OUTPUT_DIR"])
    torch.jit.save(torch.jit.script(model), str(out / "model.pt"))
    # one known-good request: the deploy's smoke test sends it before a version takes traffic
    (out / "input_example.json").write_text(json.dumps({"inputs": [x[0].tolist()]}))
    with torch.no_grad():
        predictions = model(xt).numpy()
    mse = float(np.mean((predictions - y) ** 2))
    # the drift reference: the file contract of docs/steps.md, one row per training example
    np.savez(
        out / "drift_reference.npz", features=x, names=np.array(NAMES), predictions=predictions
    )
    print(f"train mse {mse:.4f} after {epochs} epochs")


if __name__ == "__main__":
    main()
