"""`lepton-ci run` on a copy of the digits example: the whole pipeline on one machine.

Without Docker the environments use the ``local`` target (background processes) and the image
jobs are switched off with their kill switches, exactly as a CI variable would; with Docker
(`-m docker`) the same pipeline builds and pushes the image to the local registry and deploys
containers. A tightened gate stops the pipeline after ``evaluate``: nothing is registered or
deployed, metrics are still pushed, the HTML report is still written, and the JUnit report shows
the failing gate.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from junitparser import Failure, JUnitXml, Skipped

from lepton_ci.layout import LAYOUT
from lepton_ci.registry import open_registry
from lepton_ci.runtime.manifest import manifest_digest
from lepton_ci.spec import load_spec
from tests.e2e.conftest import free_port, lepton, local_targets, make_project

pytestmark = pytest.mark.slow

MODEL = "digits-cnn"
NO_IMAGE = {"LEPTON_IMAGE_BUILD_DISABLED": "1", "LEPTON_IMAGE_PUSH_DISABLED": "1"}


def summary(stdout: str) -> dict[str, str]:
    """``{job: mark}`` from the table `lepton-ci run` prints last (✓ passed, ✗ failed,
    - skipped, · not run)."""
    return dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^ ([✓✗\-·]) (\S+)\s", stdout, flags=re.MULTILINE)
    )


def read_dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def gate_cases(junit: Path) -> dict[str, str]:
    """``{testcase name: passed|failed|skipped}`` of the evaluate job's JUnit report."""
    cases = {}
    for suite in JUnitXml.fromfile(str(junit)):
        for case in suite:
            kinds = {type(r) for r in case.result}
            cases[case.name] = (
                "failed" if Failure in kinds else "skipped" if Skipped in kinds else "passed"
            )
    return cases


def answers_like_the_model(url: str, root: Path, version: int, model: str = MODEL) -> None:
    """The endpoint classifies held-out digits well, as the registered version."""
    with np.load(root / "data" / "test.npz") as data:
        images = (data["x"][:40].astype(np.float32) / 16.0)[:, None, :, :]
        labels = data["y"][:40]
    answer = post(f"{url}/predict", {"inputs": images.tolist()})
    assert answer["model"] == model
    assert str(answer["model_version"]) == str(version)
    assert np.mean(np.array(answer["predictions"]) == labels) >= 0.9


def test_the_pipeline_trains_gates_registers_deploys_and_serves_without_docker(
    tmp_path: Path, lepton_env: dict[str, str], stop_local_deployments
) -> None:
    root = make_project(tmp_path / "digits", local_targets)
    stop_local_deployments(root)

    proc = lepton(root, "run", "--approve", env={**lepton_env, **NO_IMAGE})

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary(proc.stdout) == {
        "train": "✓",
        "evaluate": "✓",
        "register": "✓",
        "image-build": "-",
        "image-push": "-",
        "deploy-staging": "✓",
        "deploy-production": "✓",
        "metrics-push": "✓",
        "report": "✓",
    }
    # report: the HTML page, named in the summary
    assert f"\nreport: {LAYOUT.report_html}\n" in proc.stdout
    assert (root / LAYOUT.report_html).stat().st_size > 0
    # evaluate: the JUnit report has one testcase per gate; no champion yet, so that one skips
    cases = gate_cases(root / LAYOUT.junit)
    assert {k: v for k, v in cases.items() if "champion" not in k} == {
        "accuracy >= 0.9": "passed",
        "macro_f1 >= 0.9": "passed",
        "latency_p95_ms <= 500": "passed",
    }
    assert [v for k, v in cases.items() if "champion" in k] == ["skipped"]
    # register -> model.env, handed to the deploy jobs
    model_env = read_dotenv(root / LAYOUT.model_env)
    assert model_env == {"LEPTON_MODEL_NAME": MODEL, "LEPTON_MODEL_VERSION": "1"}
    spec = load_spec(root / "lepton.yaml")
    with open_registry(spec, root) as registry:
        version = registry.latest(MODEL)
        assert version is not None and version.version == 1
        assert version.manifest_digest == manifest_digest(root / LAYOUT.train_dir)
        assert "champion" in version.aliases  # promoted after the production deploy
        deployed = {(d.environment, d.version, d.outcome) for d in registry.deployments(MODEL)}
        assert deployed == {("staging", 1, "succeeded"), ("production", 1, "succeeded")}
        assert "metrics" in {event.kind for event in registry.history(MODEL)}
    # deploy: each environment's endpoint answers with the registered model
    for env in spec.deploy.environments:
        url = read_dotenv(root / LAYOUT.deploy_env(env.name))["LEPTON_DEPLOY_URL"]
        assert url == f"http://127.0.0.1:{env.port}"
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as resp:
            ready = json.loads(resp.read())
        assert ready["manifest_digest"] == version.manifest_digest
        answers_like_the_model(url, root, 1)
    assert f"endpoint (production): http://127.0.0.1:{spec.deploy.environments[1].port}" in (
        proc.stdout
    )


def test_until_stops_after_the_named_stage(tmp_path: Path, lepton_env: dict[str, str]) -> None:
    root = make_project(tmp_path / "digits", local_targets)

    proc = lepton(root, "run", "--until", "evaluate", env=lepton_env)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    marks = summary(proc.stdout)
    assert (marks["train"], marks["evaluate"]) == ("✓", "✓")
    assert {marks[j] for j in marks if j not in ("train", "evaluate")} == {"-"}
    assert (root / LAYOUT.junit).is_file()
    assert not (root / LAYOUT.model_env).exists()


def test_a_failing_gate_stops_the_pipeline_but_metrics_are_pushed(
    tmp_path: Path, lepton_env: dict[str, str], pushgateway: str, stop_local_deployments
) -> None:
    from tests.metrics.conftest import scrape

    sha_marker = uuid.uuid4().hex[:8]

    def strict(spec: dict[str, Any]) -> None:
        local_targets(spec)
        spec["gates"][0] = "accuracy >= 0.999"  # the example reaches about 0.98
        spec["metrics"] = {"sinks": [{"type": "pushgateway", "url": pushgateway, "job": "e2e"}]}
        spec["project"]["name"] = f"Digits {sha_marker}"

    root = make_project(tmp_path / "digits", strict)
    stop_local_deployments(root)

    proc = lepton(root, "run", "--approve", env={**lepton_env, **NO_IMAGE})

    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out  # `lepton-ci run` exits with the failing step's category
    assert "job evaluate failed" in out and "exited 4" in out  # evaluate's gate exit code
    assert summary(proc.stdout) == {
        "train": "✓",
        "evaluate": "✗",
        "register": "·",
        "image-build": "-",
        "image-push": "-",
        "deploy-staging": "·",
        "deploy-production": "·",
        "metrics-push": "✓",  # an `always` job
        "report": "✓",  # another: the report of the rejected model
    }
    assert f"\nreport: {LAYOUT.report_html}\n" in proc.stdout
    assert "0.999" in (root / LAYOUT.report_html).read_text()  # the failed gate's bound
    cases = gate_cases(root / LAYOUT.junit)
    assert cases["accuracy >= 0.999"] == "failed"
    assert cases["macro_f1 >= 0.9"] == "passed"
    metrics = json.loads((root / LAYOUT.metrics_json).read_text())
    assert metrics["passed"] is False
    # nothing registered, nothing deployed
    assert not (root / LAYOUT.model_env).exists()
    assert not (root / LAYOUT.deploy_dir).exists()
    assert not (root / ".lepton" / "deploy").exists()
    with open_registry(load_spec(root / "lepton.yaml"), root) as registry:
        assert registry.latest(MODEL) is None
    # ...but the evaluation reached the Pushgateway, with the failed gate
    git_sha = _head(root)
    samples = scrape(pushgateway)
    ours = [(n, lab, v) for n, lab, v in samples if lab.get("git_sha") == git_sha]
    gates = {lab["gate"]: v for n, lab, v in ours if n == "lepton_gate_passed"}
    assert gates["accuracy >= 0.999"] == 0.0
    assert gates["macro_f1 >= 0.9"] == 1.0
    accuracy = [
        v
        for n, lab, v in ours
        if n == "lepton_model_metric"
        and lab.get("metric") == "accuracy"
        and lab.get("model_version") == "unregistered"
    ]
    assert accuracy == [pytest.approx(metrics["metrics"]["accuracy"])]


def _head(root: Path) -> str:
    from tests.e2e.conftest import git

    return git(root, "rev-parse", "HEAD").strip()


@pytest.mark.docker
def test_the_full_pipeline_builds_pushes_and_deploys_containers(
    tmp_path: Path,
    lepton_env: dict[str, str],
    docker_client: Any,
    local_registry: str,
    base_image: str,
    lepton_wheel: Path,
    services_env: dict[str, str],
) -> None:
    model = f"e2e-digits-{uuid.uuid4().hex[:8]}"

    def own_names(spec: dict[str, Any]) -> None:
        spec["project"]["model"] = model
        spec["image"]["registry"] = local_registry
        spec["image"].pop("repository", None)
        for env in spec["deploy"]["environments"]:
            env["port"] = free_port()

    root = make_project(tmp_path / "digits", own_names)
    env = {**lepton_env, "LEPTON_IMAGE_BASE": base_image, "LEPTON_CI_WHEEL": str(lepton_wheel)}
    env["DOCKER_HOST"] = services_env["DOCKER_HOST"]
    try:
        proc = lepton(root, "run", "--approve", env=env)

        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert set(summary(proc.stdout).values()) == {"✓"}
        image = read_dotenv(root / LAYOUT.image_env)
        assert image["LEPTON_IMAGE"] == f"{local_registry}/{model}:v1"
        digest = image["LEPTON_IMAGE_DIGEST"]
        # the local registry holds the pushed tag, under the recorded digest
        with urllib.request.urlopen(f"http://{local_registry}/v2/{model}/tags/list") as resp:
            assert "v1" in json.loads(resp.read())["tags"]
        manifest_request = urllib.request.Request(
            f"http://{local_registry}/v2/{model}/manifests/v1",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        with urllib.request.urlopen(manifest_request) as resp:
            assert resp.headers["Docker-Content-Digest"] == digest
        spec = load_spec(root / "lepton.yaml")
        with open_registry(spec, root) as registry:
            version = registry.get(model, 1)
            assert version.image_digest == digest
            deployed = {
                (d.environment, d.image_digest, d.outcome) for d in registry.deployments(model)
            }
            assert deployed == {
                ("staging", digest, "succeeded"),
                ("production", digest, "succeeded"),
            }
        running = docker_client.containers.list(filters={"label": f"ci.lepton.model={model}"})
        assert {c.labels["ci.lepton.environment"] for c in running} == {"staging", "production"}
        for environment in spec.deploy.environments:
            url = read_dotenv(root / LAYOUT.deploy_env(environment.name))["LEPTON_DEPLOY_URL"]
            answers_like_the_model(url, root, 1, model)
    finally:
        for container in docker_client.containers.list(
            all=True, filters={"label": f"ci.lepton.model={model}"}
        ):
            container.remove(force=True)
