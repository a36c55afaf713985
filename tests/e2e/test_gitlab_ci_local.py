"""The generated standalone `.gitlab-ci.yml` of the digits example, executed by gitlab-ci-local.

gitlab-ci-local 4.60.1 runs the pipeline on this machine in shell mode
(``--shell-executor-no-image``) with ``--shell-isolation``: every job gets its own copy of the
repository under ``.gitlab-ci-local/builds/<job>/`` plus the artifacts of the jobs it ``needs``
(exported to ``.gitlab-ci-local/artifacts/<job>/``); ``--no-artifacts-to-source`` keeps them
out of the checkout, so nothing reaches a job except through ``needs``. ``reports: dotenv``
files are kept under ``artifacts/<job>/.gitlab-ci-reports/dotenv/`` and become variables of the
jobs that need that job, as on gitlab.com.

The generated file runs unchanged. A wrapper file includes it and adds one probe job that needs
``register`` (and ``image-push``) and prints the hand-off variables it sees; gitlab-ci-local
keeps each job's output in ``.gitlab-ci-local/output/<job>.log``.

- ``lepton-ci.install: false``: jobs use ``lepton-ci`` from this venv (first on PATH).
- The model registry is a shared SQLite file outside the checkout (as a team's registry is a
  shared service): isolated jobs would otherwise each have their own ``.lepton/registry.db``.
- With a Docker engine (``.ci/services``) the whole pipeline runs, image and deploys included
  (production is a manual job: ``--manual deploy-production``). Without one, the image jobs are
  switched off with ``LEPTON_IMAGE_BUILD_DISABLED`` / ``LEPTON_IMAGE_PUSH_DISABLED``, which by
  the generated rules also leaves out the deploy jobs: train, evaluate, register, metrics-push,
  report.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml

from lepton_ci.registry import open_registry
from lepton_ci.runtime.manifest import manifest_digest
from lepton_ci.spec import load_spec
from tests.e2e.conftest import REPO, clean_env, free_port, git, lepton, make_project

pytestmark = pytest.mark.slow

GITLAB_CI_LOCAL = REPO / ".ci" / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
STATE = ".gitlab-ci-local"
BASE_JOBS = {"train", "evaluate", "register", "metrics-push", "report"}
DOCKER_JOBS = {"image-build", "image-push", "deploy-staging", "deploy-production"}


@dataclass
class Pipeline:
    root: Path
    model: str
    docker: bool
    proc: subprocess.CompletedProcess[str]
    registry_db: Path

    @property
    def jobs(self) -> set[str]:
        return BASE_JOBS | (DOCKER_JOBS if self.docker else set()) | {"dotenv-probe"}

    def artifacts(self, job: str) -> Path:
        return self.root / STATE / "artifacts" / job

    def output(self, job: str) -> str:
        return (self.root / STATE / "output" / f"{job}.log").read_text()


def probe_job(docker: bool) -> dict[str, Any]:
    needs = [{"job": "register", "artifacts": True}]
    if docker:
        needs.append({"job": "image-push", "artifacts": True})
    return {
        "stage": "metrics-push",
        "needs": needs,
        "script": [
            'echo "probe LEPTON_MODEL_NAME=$LEPTON_MODEL_NAME'
            ' LEPTON_MODEL_VERSION=$LEPTON_MODEL_VERSION LEPTON_IMAGE_DIGEST=$LEPTON_IMAGE_DIGEST"',
            "find .lepton -type f | sort | sed 's/^/probe file /'",
        ],
        "rules": [{"if": "$CI_COMMIT_BRANCH"}],
    }


def docker_services(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """`.ci/services`' variables, or None when no Docker engine can run here."""
    try:
        env: dict[str, str] = request.getfixturevalue("services_env")
        request.getfixturevalue("docker_client")
    except pytest.skip.Exception:
        return None
    return env


@pytest.fixture(scope="module")
def pipeline(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    step_cache: Path,
) -> Iterator[Pipeline]:
    if not GITLAB_CI_LOCAL.exists():
        pytest.skip("gitlab-ci-local is not installed (bash .ci/setup installs it)")
    services = docker_services(request)
    docker = services is not None
    work = tmp_path_factory.mktemp("gitlab-ci-local")
    model = f"glc-digits-{uuid.uuid4().hex[:8]}"
    registry_db = work / "shared-registry.db"

    def for_gitlab_ci_local(spec: dict[str, Any]) -> None:
        spec["project"]["model"] = model
        spec.setdefault("lepton-ci", {})["install"] = False
        spec["registry"] = {"path": str(registry_db)}
        spec["image"].pop("repository", None)
        for env in spec["deploy"]["environments"]:
            env["port"] = free_port()

    root = make_project(work / "digits", for_gitlab_ci_local)
    env = clean_env(step_cache)
    rendered = lepton(root, "render", "--style", "standalone", env=env)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    wrapper = {"include": [{"local": ".gitlab-ci.yml"}], "dotenv-probe": probe_job(docker)}
    (root / ".gitlab-ci-e2e.yml").write_text(yaml.safe_dump(wrapper, sort_keys=False))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "CI files")

    argv = [
        str(GITLAB_CI_LOCAL),
        "--file",
        ".gitlab-ci-e2e.yml",
        "--shell-executor-no-image",
        "--shell-isolation",
        "--no-artifacts-to-source",
        "--no-color",
        "--manual",
        "deploy-production",
    ]
    if docker:
        assert services is not None
        env["DOCKER_HOST"] = services["DOCKER_HOST"]
        env["LEPTON_IMAGE_BASE"] = services["LEPTON_BASE_IMAGE"]
        env["LEPTON_CI_WHEEL"] = str(request.getfixturevalue("lepton_wheel"))
    else:
        argv += ["--variable", "LEPTON_IMAGE_BUILD_DISABLED=1"]
        argv += ["--variable", "LEPTON_IMAGE_PUSH_DISABLED=1"]
    try:
        proc = subprocess.run(
            argv, cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        yield Pipeline(root, model, docker, proc, registry_db)
    finally:
        if docker:
            client = request.getfixturevalue("docker_client")
            for container in client.containers.list(
                all=True, filters={"label": f"ci.lepton.model={model}"}
            ):
                container.remove(force=True)


def test_every_job_of_the_generated_pipeline_succeeds(pipeline: Pipeline) -> None:
    out = pipeline.proc.stdout + pipeline.proc.stderr
    assert pipeline.proc.returncode == 0, out[-4000:]
    passed = set(re.findall(r"^ PASS\s+(?:\[[^]]*\]\s+)?(\S+)", out, flags=re.MULTILINE))
    assert passed == pipeline.jobs, out[-4000:]
    assert not re.search(r"^ FAIL ", out, flags=re.MULTILINE)


def test_the_evaluate_job_publishes_a_junit_report_with_one_testcase_per_gate(
    pipeline: Pipeline,
) -> None:
    report = pipeline.artifacts("evaluate") / ".lepton" / "run" / "evaluate" / "junit.xml"
    cases = {case.name: case for suite in JUnitXml.fromfile(str(report)) for case in suite}
    spec = load_spec(pipeline.root / "lepton.yaml")
    assert set(cases) == {gate.label for gate in spec.gates}
    passed = {name for name, case in cases.items() if case.is_passed and not case.is_skipped}
    assert passed == {"accuracy >= 0.9", "macro_f1 >= 0.9", "latency_p95_ms <= 500"}


def test_register_hands_the_model_version_to_later_jobs_as_dotenv(pipeline: Pipeline) -> None:
    dotenv = (
        pipeline.artifacts("register")
        / ".gitlab-ci-reports"
        / "dotenv"
        / ".lepton"
        / "run"
        / "register"
        / "model.env"
    )
    assert dotenv.read_text().splitlines() == [
        f"LEPTON_MODEL_NAME={pipeline.model}",
        "LEPTON_MODEL_VERSION=1",
    ]
    probe = pipeline.output("dotenv-probe")
    assert f"LEPTON_MODEL_NAME={pipeline.model} LEPTON_MODEL_VERSION=1 " in probe
    if pipeline.docker:
        image_env = pipeline.artifacts("image-push") / ".lepton" / "run" / "image" / "image.env"
        digest = dict(line.split("=", 1) for line in image_env.read_text().splitlines())
        assert f"LEPTON_IMAGE_DIGEST={digest['LEPTON_IMAGE_DIGEST']}" in probe


def test_artifacts_reach_a_job_only_through_its_needs(pipeline: Pipeline) -> None:
    probe_files = set(re.findall(r"^probe file (\S+)$", pipeline.output("dotenv-probe"), re.M))
    expected = {".lepton/run/register/model.env"}
    if pipeline.docker:
        expected.add(".lepton/run/image/image.env")
    assert probe_files == expected  # not train's model, which the probe does not need
    # evaluate verified the model the train job exported, in its own build directory
    assert re.search(
        r"builds/evaluate/\.lepton/run/train \(manifest verified\)", pipeline.output("evaluate")
    )
    # register recorded exactly that artifact (the manifest digest of train's export)
    trained = pipeline.artifacts("train") / ".lepton" / "run" / "train"
    spec = load_spec(pipeline.root / "lepton.yaml")
    with open_registry(spec, pipeline.root) as registry:
        version = registry.get(pipeline.model, 1)
        assert version.manifest_digest == manifest_digest(trained)
        if pipeline.docker:
            deployed = {(d.environment, d.outcome) for d in registry.deployments(pipeline.model)}
            assert deployed == {("staging", "succeeded"), ("production", "succeeded")}
            assert "champion" in version.aliases
