"""The package stays typed (mypy --strict, pydantic plugin), lint-clean (ruff) and layered
(import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is not installed; it is part of the `test` extra")
    return found


def test_ruff_finds_nothing() -> None:
    out = subprocess.run(
        [tool("ruff"), "check", "lepton_ci", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_strict_passes_on_the_package() -> None:
    out = subprocess.run(
        [tool("mypy"), "lepton_ci"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout[-5000:]


def test_the_layer_contracts_hold() -> None:
    """.importlinter: no cycles between the top-level packages, a generator that needs no
    runtime or heavy library, leaf modules that import nothing of ours, pure platform renderers
    (imports inside functions count)."""
    out = subprocess.run(
        [tool("lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-5000:]
