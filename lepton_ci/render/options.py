"""How the CI files are written, for every renderer (a leaf of the render package)."""

from __future__ import annotations

from dataclasses import dataclass

from lepton_ci.spec.model import Spec


@dataclass(frozen=True)
class RenderOptions:
    """How the CI files are written (not what the pipeline does)."""

    style: str  # "library" | "standalone"
    library_version: str  # version of our shared library / templates to pin
    jenkins_library: str
    gitlab_include: str  # "component" | "template"
    gitlab_project: str

    @classmethod
    def from_spec(cls, spec: Spec, style: str | None = None) -> RenderOptions:
        return cls(
            style=style or spec.ci.style,
            library_version=spec.lepton_ci.version,
            jenkins_library=spec.ci.jenkins_library,
            gitlab_include=spec.ci.gitlab_include,
            gitlab_project=spec.ci.gitlab_project,
        )
