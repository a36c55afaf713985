"""Golden cases: every folder here with a ``lepton.yaml`` is one, its outputs under ``expected/``.

A case may add ``case.json`` with ``{"spec_path": "..."}`` to render as if the spec lived at
another path (the path then appears in the generated commands). Regenerate every expected file
with ``LEPTON_UPDATE_GOLDEN=1 bash .ci/test tests/golden`` and review the diff before committing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lepton_ci.pipeline import Pipeline, build_pipeline
from lepton_ci.render.files import GeneratedFile
from lepton_ci.render.outputs import generated_files
from lepton_ci.spec import load_spec
from lepton_ci.spec.model import Spec

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def spec_path(self) -> str:
        options = self.folder / "case.json"
        if options.exists():
            return str(json.loads(options.read_text())["spec_path"])
        return "lepton.yaml"

    @cached_property
    def spec(self) -> Spec:
        return load_spec(self.folder / "lepton.yaml")

    @cached_property
    def pipeline(self) -> Pipeline:
        return build_pipeline(self.spec, self.spec_path)

    def rendered(self) -> list[GeneratedFile]:
        return generated_files(self.spec, self.spec_path)

    def expected(self, path: str) -> Path:
        return self.folder / "expected" / path

    def expected_text(self, path: str) -> str | None:
        file = self.expected(path)
        return file.read_text(encoding="utf-8") if file.exists() else None

    @property
    def style(self) -> str:
        return self.spec.ci.style

    @property
    def platforms(self) -> list[str]:
        return list(self.spec.ci.platforms)


def golden_spec(name: str) -> str:
    """The lepton.yaml text of golden case ``name`` (the Jenkins and GitLab tests' specs)."""
    return (HERE / name / "lepton.yaml").read_text(encoding="utf-8")


def golden_spec_path(name: str) -> str:
    """Where golden case ``name`` renders as if its spec lived."""
    return Case(HERE / name).spec_path


CASES = sorted(
    (Case(d) for d in HERE.iterdir() if (d / "lepton.yaml").is_file()), key=lambda c: c.name
)
