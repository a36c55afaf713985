"""How fast the CLI starts: `lepton-ci --help` against `python -c "import click"`, same run.

    .venv/bin/python benchmarks/startup.py [--runs N]

Prints the median wall time of each and their ratio. The generator should stay within a small
multiple of click's own import cost (it must not import torch, docker, mlflow or kubernetes).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("lepton-ci") or str(Path(sys.executable).parent / "lepton-ci")
    # interleave one warm-up of each so file-system caches are equally hot
    median_seconds([sys.executable, "-c", "import click"], 2)
    median_seconds([exe, "--help"], 2)
    base = median_seconds([sys.executable, "-c", "import click"], args.runs)
    help_ = median_seconds([exe, "--help"], args.runs)
    render_dir = Path(__file__).resolve().parents[1] / "examples" / "digits"
    print(f"python -c 'import click'   median {base * 1000:7.1f} ms  ({args.runs} runs)")
    print(f"lepton-ci --help          median {help_ * 1000:7.1f} ms  ({args.runs} runs)")
    print(f"ratio lepton-ci --help / import click: {help_ / base:.2f}x")
    if (render_dir / "lepton.yaml").exists():
        validate = median_seconds(
            [exe, "validate", "--spec", str(render_dir / "lepton.yaml")], args.runs
        )
        print(
            f"lepton-ci validate        median {validate * 1000:7.1f} ms  "
            f"ratio {validate / base:.2f}x"
        )


if __name__ == "__main__":
    main()
