"""Overhead of the lepton-ci train/evaluate steps on the digits example, measured in one run.

Prints:
  (a) `lepton-ci train` + `lepton-ci evaluate` wall time against the same epochs in plain PyTorch
      scripts (one process per step, as in CI where train and evaluate are separate jobs);
      goal: ratio <= 1.05.
  (b) a cached re-run of `lepton-ci train` against the cold run; goal: <= 2 % (reported for the
      whole CLI process and for the step itself, without interpreter start-up).
  (c) evaluation throughput (samples/s) of the runtime's timed predict loop against a plain loop
      over the same TorchScript model and batches, in one process, alternating (best of N), so
      neighbours on a shared machine affect both alike.

    python benchmarks/train_eval.py [--epochs 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits"

PLAIN_TRAIN = textwrap.dedent(
    """
    import random, sys
    import numpy as np, torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from digits.model import DigitsCNN
    epochs = int(sys.argv[1])
    random.seed(42); np.random.seed(42); torch.manual_seed(42)
    with np.load("data/train.npz") as a:
        x = torch.from_numpy(a["x"].astype(np.float32) / 16.0).unsqueeze(1)
        y = torch.from_numpy(a["y"].astype(np.int64))
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = DigitsCNN(16, 0.2)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad(); loss = loss_fn(model(xb), yb); loss.backward(); opt.step()
        torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, "plain-ckpt.pt")
    model.eval()
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(model, x[:1]), "plain-model.pt")
    """
)

PLAIN_EVAL = textwrap.dedent(
    """
    import json, time
    import numpy as np, torch
    model = torch.jit.load("plain-model.pt").eval()
    with np.load("data/test.npz") as a:
        x = torch.from_numpy(a["x"].astype(np.float32) / 16.0).unsqueeze(1)
        y = a["y"]
    with torch.inference_mode():
        preds = [model(xb).numpy() for xb in torch.split(x, 64)]
    acc = float((np.concatenate(preds).argmax(1) == y).mean())
    print(json.dumps({"accuracy": acc}))
    """
)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed, proc.stdout


def throughput(repo: Path, rounds: int) -> tuple[float, float]:
    """Best samples/s of ``timed_predict`` (the runtime's loop) and of a bare loop."""
    import torch

    from lepton_ci.runtime.evaluate import timed_predict
    from lepton_ci.runtime.results import EvalResult

    torch.set_num_threads(1)
    model = torch.jit.load(str(repo / ".lepton/run/train/model.pt")).eval()
    import numpy as np

    with np.load(repo / "data/test.npz") as arrays:
        x = torch.from_numpy(arrays["x"].astype(np.float32) / 16.0).unsqueeze(1)
    batches = torch.split(x, 64)

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)

    ours, plain = [], []
    for _ in range(rounds):
        _, timings = timed_predict(EvalResult(y_true=[], batches=batches, predict=predict))
        ours.append(len(x) / sum(timings))
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                model(batch).numpy()
        plain.append(len(x) / (time.perf_counter() - start))
    return max(ours), max(plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="best of N for each figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lepton-bench-"))
    repo = work / "digits"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".lepton", "__pycache__"))
    (repo / "plain_train.py").write_text(PLAIN_TRAIN)
    (repo / "plain_eval.py").write_text(PLAIN_EVAL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env.update(CI="true", PYTHONPATH=str(repo), LEPTON_REGISTRY=str(work / "registry.db"))
    lepton = [sys.executable, "-m", "lepton_ci"]
    epochs = f"epochs={args.epochs}"

    plain, ours, cold, warm, cold_step, warm_step = [], [], [], [], [], []
    for i in range(args.repeat):
        t_train, _ = timed([sys.executable, "plain_train.py", str(args.epochs)], repo, env)
        t_eval, _ = timed([sys.executable, "plain_eval.py"], repo, env)
        plain.append(t_train + t_eval)

        env["LEPTON_CACHE_DIR"] = str(work / f"cache-{i}")  # empty: a cold run
        t_train, _ = timed([*lepton, "train", "--param", epochs], repo, env)
        manifest = json.loads((repo / ".lepton/run/train/manifest.json").read_text())
        t_eval, _ = timed([*lepton, "evaluate", "--report-only"], repo, env)
        ours.append(t_train + t_eval)
        cold.append(t_train)
        cold_step.append(manifest["durations"]["step_seconds"])

        t_cached, _ = timed([*lepton, "train", "--param", epochs], repo, env)
        manifest = json.loads((repo / ".lepton/run/train/manifest.json").read_text())
        assert manifest["cache"]["hit"], "the second run should have hit the step cache"
        warm.append(t_cached)
        warm_step.append(manifest["durations"]["step_seconds"])

    print(f"digits CNN, {args.epochs} epochs, CPU ({os.cpu_count()} cores), best of {args.repeat}")
    print(
        f"(a) train+evaluate  lepton-ci {min(ours):6.2f}s  plain PyTorch {min(plain):6.2f}s  "
        f"ratio {min(ours) / min(plain):.3f}  (goal <= 1.05)"
    )
    print(
        f"(b) cached re-run   CLI {min(warm):6.3f}s vs cold {min(cold):6.2f}s = "
        f"{100 * min(warm) / min(cold):.1f}%;  step only {min(warm_step):.3f}s vs "
        f"{min(cold_step):.2f}s = {100 * min(warm_step) / min(cold_step):.2f}%  (goal <= 2%)"
    )
    ours_tp, plain_tp = throughput(repo, rounds=max(5, 3 * args.repeat))
    print(
        f"(c) eval throughput lepton-ci {ours_tp:,.0f} samples/s  plain loop {plain_tp:,.0f} "
        f"samples/s  ratio {ours_tp / plain_tp:.3f}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
