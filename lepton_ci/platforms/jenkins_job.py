"""The Jenkins job that runs a model repository's Jenkinsfile, as config XML (pure, no I/O).

``render_job_xml`` fills ``templates/jenkins_job/<kind>.xml.j2`` from the spec and the pipeline
model. The job description ends with a marker holding the digest of the fields lepton-ci owns
(:func:`job_fields`), so ``jenkins sync`` can tell "nothing changed", "the spec changed" and
"someone edited the job in the UI" apart without trusting Jenkins to keep the XML byte-exact.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Literal

from lepton_ci.errors import LeptonError
from lepton_ci.gitinfo import origin_url, strip_userinfo
from lepton_ci.pipeline.model import Pipeline
from lepton_ci.render.escape import render_template

JobKind = Literal["pipeline", "multibranch"]
MARKER = re.compile(r"\s*\[lepton-ci sync (?P<digest>sha256:[0-9a-f]{64})\]\s*$")


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    default: str
    kind: Literal["Boolean", "String"] = "Boolean"


@dataclass(frozen=True)
class JobSettings:
    """Everything the job XML says; built by :func:`job_settings`."""

    kind: JobKind
    description: str
    repo_url: str
    branch_spec: str
    credentials_id: str | None
    script_path: str
    keep_builds: int
    cron: str | None
    source_id: str
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)


def job_settings(
    pipeline: Pipeline,
    *,
    repo_url: str,
    kind: JobKind = "multibranch",
    credentials_id: str | None = None,
    script_path: str = "Jenkinsfile",
    cron: str | None = None,
    timezone: str = "UTC",
) -> JobSettings:
    """Job settings from the pipeline model: kill-switch parameters, retraining cron, retention."""
    seen: dict[str, Parameter] = {}
    if kind == "pipeline":
        # Only a multibranch project sets BRANCH_NAME (BranchNameContributor.java in
        # jenkinsci/branch-api-plugin); in a plain Pipeline job `when { branch ... }` would never
        # match. Parameters are environment variables of the build, so this one stands in.
        seen["BRANCH_NAME"] = Parameter(
            "BRANCH_NAME",
            "The branch this job builds (the SCM's); the Jenkinsfile's branch rules read it.",
            pipeline.default_branch,
            kind="String",
        )
    for job in pipeline.jobs:
        seen.setdefault(
            job.kill_switch,
            Parameter(job.kill_switch, f"Skip the {job.step} step in this build.", "false"),
        )
    description = (
        f"{pipeline.project}: CI/CD pipeline of model {pipeline.model}, "
        f"managed by lepton-ci from {pipeline.spec_path}. "
        "Edits made here are reported by `lepton-ci jenkins sync` and kept unless --force."
    )
    return JobSettings(
        kind=kind,
        description=description,
        repo_url=repo_url,
        branch_spec=f"*/{pipeline.default_branch}",
        credentials_id=credentials_id,
        script_path=script_path,
        keep_builds=pipeline.keep_builds,
        # A multibranch project has no job-level timer: its Jenkinsfile declares triggers.
        cron=f"TZ={timezone}\n{cron}" if cron and kind == "pipeline" else None,
        source_id=f"lepton-ci-{pipeline.model}",
        parameters=tuple(seen.values()) if kind == "pipeline" else (),
    )


def render_job_xml(settings: JobSettings) -> str:
    """The job's config.xml, its description ending with the digest marker."""
    plain = render_template(f"jenkins_job/{settings.kind}.xml.j2", job=settings)
    digest = fields_digest(job_fields(plain))
    marked = _replace(settings, description=f"{settings.description}\n[lepton-ci sync {digest}]")
    return render_template(f"jenkins_job/{settings.kind}.xml.j2", job=marked)


def _replace(settings: JobSettings, **changes: Any) -> JobSettings:
    from dataclasses import replace

    return replace(settings, **changes)


# field name -> XPath (relative to the root), for each job class lepton-ci writes
_FIELDS: dict[str, dict[str, str]] = {
    "flow-definition": {
        "definition": "definition[@class]",
        "scm.url": "definition/scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url",
        "scm.credentials": (
            "definition/scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/credentialsId"
        ),
        "scm.branch": "definition/scm/branches/hudson.plugins.git.BranchSpec/name",
        "script_path": "definition/scriptPath",
        "keep_builds": "properties/jenkins.model.BuildDiscarderProperty/strategy/numToKeep",
        "cron": (
            "properties/org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"
            "/triggers/hudson.triggers.TimerTrigger/spec"
        ),
        "disabled": "disabled",
    },
    "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject": {
        "scm.url": "sources/data/jenkins.branch.BranchSource/source/remote",
        "scm.credentials": "sources/data/jenkins.branch.BranchSource/source/credentialsId",
        "script_path": "factory/scriptPath",
        "keep_builds": "orphanedItemStrategy/numToKeep",
    },
}


def job_fields(config_xml: str) -> dict[str, Any]:
    """The fields lepton-ci owns in a job's config.xml, normalised (whitespace, plugin versions)."""
    try:
        root = ET.fromstring(config_xml.encode("utf-8"))
    except ET.ParseError as exc:
        raise LeptonError(f"the job's config.xml is not XML: {exc}") from None
    out: dict[str, Any] = {"class": root.tag}
    description = _text(root.find("description"))
    out["description"] = MARKER.sub("", description or "").strip()
    for name, path in _FIELDS.get(root.tag, {}).items():
        node = root.find(path.split("[")[0])
        if name == "definition":
            out[name] = node.get("class") if node is not None else None
        else:
            out[name] = _text(node)
    params = root.findall(
        "properties/hudson.model.ParametersDefinitionProperty/parameterDefinitions/*"
    )
    out["parameters"] = [
        [p.tag.rsplit(".", 1)[-1], _text(p.find("name")), _text(p.find("defaultValue"))]
        for p in params
    ]
    return out


def _text(node: ET.Element | None) -> str | None:
    if node is None:
        return None
    return "\n".join(line.strip() for line in (node.text or "").strip().splitlines())


def fields_digest(fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def stored_digest(config_xml: str) -> str | None:
    """The digest ``jenkins sync`` stored in the description when it last wrote the job."""
    try:
        root = ET.fromstring(config_xml.encode("utf-8"))
    except ET.ParseError:
        return None
    match = MARKER.search(_text(root.find("description")) or "")
    return match["digest"] if match else None


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``name: 'old' -> 'new'`` for each field that differs."""
    return [
        f"{name}: {before.get(name)!r} -> {after.get(name)!r}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


def spec_job_xml(
    spec_path: str,
    *,
    job: str | None = None,
    kind: JobKind = "multibranch",
    repo_url: str | None = None,
    credentials_id: str | None = None,
    script_path: str = "Jenkinsfile",
) -> tuple[str, str]:
    """(job name, config XML) for the spec at ``spec_path``."""
    from pathlib import Path

    from lepton_ci.pipeline import build_pipeline
    from lepton_ci.spec import load_spec

    spec = load_spec(spec_path)
    pipeline = build_pipeline(spec, spec_path)
    url = repo_url or origin_url(str(Path(spec_path).resolve().parent))
    if not url:
        raise LeptonError(
            "cannot tell which repository the job should clone",
            hint="pass --repo-url, or run inside a git checkout with an `origin` remote",
        )
    settings = job_settings(
        pipeline,
        repo_url=strip_userinfo(url),
        kind=kind,
        credentials_id=credentials_id,
        script_path=script_path,
        cron=spec.schedule.retrain,
        timezone=spec.schedule.timezone,
    )
    return job or spec.model_name, render_job_xml(settings)
