"""Loading the model contract: torch.export `model.pt2` against TorchScript `model.pt`, same run.

    .venv/bin/python benchmarks/model_load.py [--runs N]

The digits CNN (examples/digits/digits/model.py) with random weights is saved both ways. Each
run is a fresh Python process that loads the file the way `lepton-ci serve` does and answers one
batch of 1 and one of 64 (first inference included, as a server's first request pays it).
Prints the median of each and their ratio, and both file sizes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = """
import sys, time
start = time.perf_counter()
import torch
from lepton_ci.model_files import load_model
from pathlib import Path
module, _ = load_model(Path(sys.argv[1]))
with torch.inference_mode():
    module(torch.zeros(1, 1, 8, 8)); module(torch.zeros(64, 1, 8, 8))
print(time.perf_counter() - start)
"""


def save_both(out: Path) -> tuple[Path, Path]:
    import torch

    sys.path.insert(0, str(ROOT / "examples" / "digits"))
    from digits.model import DigitsCNN  # type: ignore[import-not-found]

    from lepton_ci.runtime.context import TrainContext

    module = DigitsCNN().eval()
    example = torch.zeros(1, 1, 8, 8)
    for name in ("exported", "scripted"):
        (out / name).mkdir()
    ctx = TrainContext(
        params={},
        seed=0,
        device="cpu",
        output_dir=out / "exported",
        data=[],
        root=out,
        checkpoint_dir=out / "checkpoints",
    )
    ctx.save_model(module, example)
    ctx.output_dir = out / "scripted"
    ctx.save_torchscript(module, example)
    return out / "exported", out / "scripted"


def median_seconds(model_dir: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", LOAD, str(model_dir)],
            check=True,
            capture_output=True,
            text=True,
        )
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        exported, scripted = save_both(Path(tmp))
        print(f"saved both in {time.perf_counter() - started:.1f} s")
        median_seconds(exported, 1), median_seconds(scripted, 1)  # warm the file-system cache
        pt2 = median_seconds(exported, args.runs)
        ts = median_seconds(scripted, args.runs)
        size_pt2 = (exported / "model.pt2").stat().st_size
        size_ts = (scripted / "model.pt").stat().st_size
    print(f"torch.export model.pt2   load + first inference  median {pt2:6.3f} s  {size_pt2} bytes")
    print(f"TorchScript  model.pt    load + first inference  median {ts:6.3f} s  {size_ts} bytes")
    print(f"ratio pt2 / TorchScript: {pt2 / ts:.2f}  ({args.runs} runs each, same run)")


if __name__ == "__main__":
    main()
