"""The CLI starts fast: --help and the generator import no torch, docker, mlflow, kubernetes,
sqlalchemy, tenacity or psutil."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "torch",
    "docker",
    "mlflow",
    "kubernetes",
    "numpy",
    "jenkins",
    "gitlab",
    "uvicorn",
    "matplotlib",
    "sqlalchemy",
    "psycopg",
    "tenacity",
    "psutil",
)

PROBE = """
import json, sys
from lepton_ci.cli import main
try:
    main({args!r})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print(json.dumps(heavy), file=sys.__stderr__)
"""


def imported_by(args: list[str], cwd: Path) -> list[str]:
    code = PROBE.format(args=args, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return json.loads(out.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate"], ["schema"], ["pipeline"], ["render"], ["init", "--name", "x"]],
)
def test_generator_commands_import_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    if args[0] != "init":
        (tmp_path / "lepton.yaml").write_text(
            "project: {name: x}\ntrain: {command: python t.py}\nevaluate: {command: python e.py}\n"
        )
    assert imported_by(args, tmp_path) == []


def test_the_probe_would_see_a_heavy_import(tmp_path: Path) -> None:
    """Guard against a probe that can never fail: importing torch must show up."""
    code = "import sys, json, torch; print(json.dumps(['torch' in sys.modules]), file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert json.loads(out.stderr.strip().splitlines()[-1]) == [True]
