"""Which files `lepton-ci init` / `render` produce from a spec: one list, used by both."""

from __future__ import annotations

from lepton_ci.pipeline import Pipeline, build_pipeline
from lepton_ci.render.files import GeneratedFile
from lepton_ci.render.options import RenderOptions
from lepton_ci.spec.model import Spec


def generated_files(
    spec: Spec, spec_path: str = "lepton.yaml", *, style: str | None = None
) -> list[GeneratedFile]:
    """Render every output in memory. Raises before anything is written."""
    from lepton_ci.render.docker import render_dockerfile, render_dockerignore
    from lepton_ci.render.gitlab import render_gitlab_ci
    from lepton_ci.render.jenkins import render_jenkinsfile

    options = RenderOptions.from_spec(spec, style)
    pipeline: Pipeline = build_pipeline(spec, spec_path)
    files: list[GeneratedFile] = []
    if "jenkins" in spec.ci.platforms:
        files.append(
            GeneratedFile("Jenkinsfile", render_jenkinsfile(pipeline, options), "//", spec_path)
        )
    if "gitlab" in spec.ci.platforms:
        files.append(
            GeneratedFile(".gitlab-ci.yml", render_gitlab_ci(pipeline, options), "#", spec_path)
        )
    files.append(GeneratedFile("Dockerfile", render_dockerfile(spec), "#", spec_path))
    files.append(GeneratedFile(".dockerignore", render_dockerignore(spec), "#", spec_path))
    for extra in _extra_outputs():
        files.extend(extra(spec, pipeline, spec_path))
    return files


def _extra_outputs() -> list:  # type: ignore[type-arg]
    """Producers added by other features (deploy manifests, monitoring rules)."""
    from lepton_ci.render.deploy import deploy_outputs
    from lepton_ci.render.monitoring import monitoring_outputs

    return [deploy_outputs, monitoring_outputs]
