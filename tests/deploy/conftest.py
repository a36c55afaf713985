"""Fixtures for deploy tests: a project (spec, run dir, registry) built inline per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lepton_ci.registry import Registry, open_registry
from lepton_ci.spec.loader import parse_spec
from lepton_ci.spec.model import Spec
from tests.services import base_image, docker_client, local_registry, services_env  # noqa: F401

_STAND_INS = itertools.count(1)

SPEC = """\
project: {{name: Deploy Test, model: deploy-test}}
train: {{entrypoint: "pkg.train:main"}}
evaluate: {{entrypoint: "pkg.evaluate:main"}}
image: {{port: {port}}}
deploy:
  environments:
{envs}
"""


@dataclass
class Project:
    root: Path
    spec: Spec
    registry: Registry

    @property
    def run_dir(self) -> Path:
        return self.root / ".lepton" / "run"

    def register(self, manifest: dict[str, Any] | None = None) -> int:
        version = self.registry.register(
            self.spec.model_name,
            # one version per artifact: a stand-in manifest of its own per call
            manifest=manifest or {"files": {}, "stand_in": next(_STAND_INS)},
            metrics={},
            gates=[],
            git_sha=None,
            data_hash=None,
            params={},
        ).version
        self.write(
            "register/model.env",
            f"LEPTON_MODEL_NAME={self.spec.model_name}\nLEPTON_MODEL_VERSION={version}\n",
        )
        return version

    def set_image(self, version: int, image: str, digest: str) -> None:
        self.registry.set_image(self.spec.model_name, version, image=image, digest=digest)
        self.write("image/image.env", f"LEPTON_IMAGE={image}\nLEPTON_IMAGE_DIGEST={digest}\n")

    def write(self, rel: str, text: str) -> Path:
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    def make(envs: str, port: int = 8080, extra: str = "") -> Project:
        """``envs``: the deploy environments' YAML; ``extra``: more top-level sections."""
        text = SPEC.format(port=port, envs=envs) + extra
        (tmp_path / "lepton.yaml").write_text(text)
        spec = parse_spec(text, tmp_path / "lepton.yaml")
        return Project(tmp_path, spec, open_registry(spec, tmp_path))

    return make
