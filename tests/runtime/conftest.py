"""Fixtures: a private copy of the digits example and a way to run ``lepton-ci`` on it."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"
FAST = ("--param", "epochs=3")  # a few seconds on 2 CPU cores, still well above 0.9 accuracy


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Repo:
    """A copy of the example model repository with its own step cache and registry."""

    root: Path
    cache: Path
    registry: Path

    @property
    def run_dir(self) -> Path:
        return self.root / ".lepton" / "run"

    @property
    def train_dir(self) -> Path:
        return self.run_dir / "train"

    @property
    def evaluate_dir(self) -> Path:
        return self.run_dir / "evaluate"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
        env.update(
            CI="true",
            LEPTON_CACHE_DIR=str(self.cache),
            LEPTON_REGISTRY=str(self.registry),
            OMP_NUM_THREADS="1",
        )
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "lepton_ci", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"lepton-ci {' '.join(args)} exited {proc.returncode}:\n{result.log}"
            )
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "lepton_ci", *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def write_spec(self, name: str, edit: Callable[[str], str]) -> str:
        """A variant of the example's lepton.yaml next to it (same repo, same code)."""
        text = edit((self.root / "lepton.yaml").read_text())
        (self.root / name).write_text(text)
        return name


def copy_example(dest: Path) -> Repo:
    shutil.copytree(
        EXAMPLE, dest / "digits", ignore=shutil.ignore_patterns(".lepton", "__pycache__")
    )
    # Tests never depend on machine speed: the example's latency gate is relaxed in the copy.
    spec = dest / "digits" / "lepton.yaml"
    text = spec.read_text()
    assert "latency_p95_ms <= 500" in text
    spec.write_text(text.replace("latency_p95_ms <= 500", "latency_p95_ms <= 100000"))
    return Repo(dest / "digits", dest / "cache", dest / "registry.db")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return copy_example(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The example trained once (3 epochs) for the evaluation tests of a module."""
    repo = copy_example(tmp_path_factory.mktemp("trained"))
    repo.run("train", *FAST)
    return repo


def weights_sha256(model_file: Path) -> str:
    """sha256 over the model's tensors (names, shapes and bytes), in order."""
    from lepton_ci.model_files import load_exported, load_torchscript

    load = load_exported if model_file.suffix == ".pt2" else load_torchscript
    module = load(model_file)
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        buffer = io.BytesIO()
        buffer.write(tensor.detach().contiguous().numpy().tobytes())
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(buffer.getvalue())
    return digest.hexdigest()
