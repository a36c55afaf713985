"""A throwaway model repository for image tests: git repo, spec, trained + registered model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lepton_ci.dotenv import write_dotenv
from lepton_ci.layout import LAYOUT
from lepton_ci.registry import open_registry
from lepton_ci.spec.loader import load_spec
from lepton_ci.spec.model import Spec
from tests.services import make_tiny_model

HOSTILE_TITLE = 'Tiny "$(id)" ${HOME} `x` \\ model'


def make_project(root: Path, *, base: str, registry: str, repository: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lepton.yaml").write_text(
        "version: 1\n"
        f"project: {{name: {json.dumps(HOSTILE_TITLE)}, model: tiny}}\n"
        'train: {entrypoint: "tiny.train:main"}\n'
        'evaluate: {entrypoint: "tiny.evaluate:main"}\n'
        f"image: {{base: {json.dumps(base)}, registry: {json.dumps(registry)}, "
        f"repository: {json.dumps(repository)}}}\n"
        "registry: {path: .lepton/registry.db}\n"
    )
    (root / "tiny").mkdir(exist_ok=True)
    (root / "tiny" / "__init__.py").write_text('"""The tiny model package."""\n')
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "notes.txt").write_text("code-layer file\n")
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=root, check=True)
    return root


def train_and_register(root: Path, *, seed: int) -> int:
    """A new trained artifact in .lepton/run/train, registered; returns its version."""
    import shutil

    train_dir = root / str(LAYOUT.train_dir)
    shutil.rmtree(train_dir, ignore_errors=True)
    make_tiny_model(train_dir, seed=seed)
    spec = spec_of(root)
    manifest = json.loads((train_dir / "manifest.json").read_text())
    with open_registry(spec, root) as registry:
        version = registry.register(
            spec.model_name,
            manifest=manifest,
            metrics={},
            gates=[],
            git_sha=None,
            data_hash=manifest["data_hash"],
            params=manifest["params"],
        ).version
    write_dotenv(
        root / str(LAYOUT.model_env),
        {"LEPTON_MODEL_NAME": spec.model_name, "LEPTON_MODEL_VERSION": str(version)},
    )
    return version


def spec_of(root: Path) -> Spec:
    return load_spec(root / "lepton.yaml")
