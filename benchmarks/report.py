"""How long `lepton-ci report` takes on a digits-sized run, and that `--help` stays light.

    .venv/bin/python benchmarks/report.py [--runs 5]

The run is built like the digits example's (tests/report/test_report.py's ``make_run``): 450
evaluation samples, 10 classes, 8 epochs of two training metrics, the example's four gates with
a champion, so every plot is drawn. Prints:

  (a) the median wall time of the whole `lepton-ci report` process (interpreter, imports,
      matplotlib, every plot and file), and its CPU time, which neighbours on a shared machine
      do not inflate; goal: <= 2 s;
  (b) the median of `write_report` in one warm process (the plotting and writing alone);
  (c) the heavy packages `lepton-ci --help` imports (tests/core/test_startup_imports.py's
      probe); goal: none, matplotlib above all.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lepton_ci.report import write_report  # noqa: E402
from tests.core.test_startup_imports import imported_by  # noqa: E402
from tests.report.test_report import make_run  # noqa: E402

DIGITS_GATES = (
    "accuracy >= 0.5",
    "macro_f1 >= 0.5",
    "loss <= 10",
    {"metric": "accuracy", "op": ">=", "champion_delta": -0.01, "significant": True},
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("lepton-ci") or str(Path(sys.executable).parent / "lepton-ci")
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(
            Path(tmp),
            gates=DIGITS_GATES,
            champion={"accuracy": 0.6},
            classes=tuple(str(digit) for digit in range(10)),
            size=450,
            epochs=8,
        )
        command = [exe, "report", "--run-dir", str(run)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # warm the file cache
        wall, cpu = [], []
        for _ in range(args.runs):
            before = _children_cpu()
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            wall.append(time.perf_counter() - start)
            cpu.append(_children_cpu() - before)
        write_report(run)  # imports matplotlib once
        warm = []
        for _ in range(args.runs):
            start = time.perf_counter()
            write_report(run)
            warm.append(time.perf_counter() - start)
        plots = sorted(p.name for p in (run / "report" / "plots").iterdir())
        heavy = imported_by(["--help"], Path(tmp))
    process = statistics.median(wall)
    print(f"plots: {', '.join(plots)}")
    print(
        f"lepton-ci report (whole process)  median {process:6.2f} s  ({args.runs} runs)  "
        f"goal <= 2 s: {'met' if process <= 2 else 'MISSED'}"
    )
    print(
        f"  its CPU time (user + sys)        median {statistics.median(cpu):6.2f} s  "
        "(what a busy machine does not inflate)"
    )
    print(f"write_report (warm process)       median {statistics.median(warm):6.2f} s")
    print(f"heavy imports of lepton-ci --help: {heavy or 'none'}")


if __name__ == "__main__":
    main()
