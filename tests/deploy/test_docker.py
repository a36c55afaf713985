"""Target docker against the real engine and local registry: zero failed requests while a new
version takes over, automatic rollback when it is not ready or refuses its artifact, no-op for
the live digest, and `lepton-ci rollback` back to the previous version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lepton_ci.deploy.core import DeployRolledBack, deploy
from lepton_ci.deploy.docker_target import DockerRuntime
from lepton_ci.deploy.probe import post_json
from lepton_ci.netutil import free_port
from lepton_ci.registry import open_registry
from lepton_ci.spec.loader import parse_spec
from tests.deploy.conftest import SPEC, Project
from tests.deploy.docker_images import PushedImage, build_and_push
from tests.deploy.load import Load, serving
from tests.deploy.models import EXAMPLE

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def images(
    docker_client: Any,
    base_image: str,
    local_registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, PushedImage]:
    work = tmp_path_factory.mktemp("images")

    def build(tag: str, seed: int | None, tamper: bool = False) -> PushedImage:
        return build_and_push(
            docker_client,
            work,
            tag,
            base=base_image,
            registry=local_registry,
            seed=seed,
            tamper=tamper,
        )

    return {
        "v1": build("v1", seed=1),
        "v2": build("v2", seed=2),
        "never-ready": build("never-ready", seed=None),
        "tampered": build("tampered", seed=3, tamper=True),
    }


@pytest.fixture
def project(make_project: Callable[..., Project], docker_client: Any) -> Iterator[Project]:
    port = free_port()
    project = make_project(
        f"    - name: prod\n      target: docker\n      port: {port}\n", port=port
    )
    yield project
    DockerRuntime("deploy-test", "prod", "127.0.0.1", port, client=docker_client).shutdown()


def release(project: Project, image: PushedImage) -> int:
    """What `models register` + `image push` leave for the deploy job."""
    version = project.register()
    project.set_image(version, image.tag, image.digest)
    return version


def containers(client: Any) -> list[Any]:
    return client.containers.list(all=True, filters={"label": "ci.lepton.environment=prod"})


def test_new_version_takes_over_with_zero_failed_requests(
    project: Project, images: dict[str, PushedImage], docker_client: Any
) -> None:
    first = release(project, images["v1"])
    outcome = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root)
    assert outcome.outcome == "succeeded" and serving(outcome.url) == first
    second = release(project, images["v2"])
    with Load(outcome.url) as load:
        outcome = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root)
    assert outcome.outcome == "succeeded" and serving(outcome.url) == second
    written = json.loads((project.run_dir / "deploy/prod.json").read_text())
    assert written["details"]["smoke_tested"] is True  # input_example.json from inside the image
    assert load.ok > 0 and load.failures == []
    running = containers(docker_client)
    roles = sorted(c.labels["ci.lepton.role"] for c in running)
    assert roles == ["front", "version"]  # the old version was retired
    for container in running:
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"
        assert not container.attrs["HostConfig"].get("PortBindings")
    [record, _] = project.registry.deployments("deploy-test", "prod")
    assert (record.version, record.outcome, record.image_digest) == (
        second,
        "succeeded",
        images["v2"].digest,
    )


def test_cli_rollback_returns_to_the_previous_version(
    project: Project, images: dict[str, PushedImage]
) -> None:
    first = release(project, images["v1"])
    deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root)
    release(project, images["v2"])
    url = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root).url
    with Load(url) as load:
        result = subprocess.run(
            [sys.executable, "-m", "lepton_ci", "rollback", "--env", "prod"],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ),  # a laptop: in CI a workspace-local registry is refused
        )
    assert result.returncode == 0, result.stderr
    assert f"version {first} succeeded" in result.stdout
    assert serving(url) == first and load.failures == []
    written = json.loads((project.run_dir / "deploy/prod.json").read_text())
    assert written["rollback"] is True and written["version"] == first


def test_version_that_never_becomes_ready_is_removed_and_the_old_keeps_serving(
    project: Project, images: dict[str, PushedImage], docker_client: Any
) -> None:
    good = release(project, images["v1"])
    url = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root).url
    bad = release(project, images["never-ready"])
    with Load(url) as load, pytest.raises(DeployRolledBack, match="was not ready after 8s"):
        deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=8)
    assert serving(url) == good and load.failures == []
    versions = [
        c.labels["ci.lepton.version"]
        for c in containers(docker_client)
        if c.labels["ci.lepton.role"] == "version"
    ]
    assert versions == [str(good)]
    latest = project.registry.deployments("deploy-test", "prod")[0]
    assert (latest.version, latest.outcome) == (bad, "rolled_back")


def test_tampered_artifact_image_is_refused_and_rolled_back(
    project: Project, images: dict[str, PushedImage]
) -> None:
    good = release(project, images["v1"])
    url = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root).url
    release(project, images["tampered"])
    with pytest.raises(DeployRolledBack) as failure:
        deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=60)
    assert "exited before it was ready" in str(failure.value)
    assert "model.pt" in str(failure.value)  # serve's own refusal, from the container log
    assert serving(url) == good


def test_deploying_the_live_digest_is_a_no_op(
    project: Project, images: dict[str, PushedImage], docker_client: Any
) -> None:
    release(project, images["v1"])
    deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root)
    before = {c.id for c in containers(docker_client)}
    again = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root)
    assert again.outcome == "unchanged"
    assert {c.id for c in containers(docker_client)} == before
    assert len(project.registry.deployments("deploy-test", "prod")) == 1
    assert Path(project.run_dir / "deploy/prod.env").is_file()


def test_another_checkout_of_the_same_model_is_never_touched(
    project: Project,
    images: dict[str, PushedImage],
    docker_client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Same model and environment names on another port (a second checkout, another agent's
    workspace): a failed deploy there leaves this one's front and versions as they were."""
    mine = release(project, images["v1"])
    url = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root).url
    root = tmp_path_factory.mktemp("other-checkout")
    port = free_port()
    text = SPEC.format(
        port=port, envs=f"    - name: prod\n      target: docker\n      port: {port}\n"
    )
    (root / "lepton.yaml").write_text(text)
    spec = parse_spec(text, root / "lepton.yaml")
    other = Project(root, spec, open_registry(spec, root))
    try:
        release(other, images["v2"])
        theirs = deploy(other.spec, "prod", run_dir=other.run_dir, root=other.root).url
        release(other, images["never-ready"])
        with Load(url) as load, pytest.raises(DeployRolledBack):
            deploy(other.spec, "prod", run_dir=other.run_dir, root=other.root, ready_timeout=8)
        assert serving(url) == mine and load.failures == []
        assert serving(theirs) == 1  # the other checkout's own v1 (images["v2"]) still serves
        ports = {str(project.spec.deploy.environments[0].port), str(port)}
        fronts = [
            c.labels.get("ci.lepton.front-port")
            for c in containers(docker_client)
            if c.labels["ci.lepton.role"] == "front" and c.status == "running"
        ]
        assert ports <= set(fronts)
    finally:
        DockerRuntime("deploy-test", "prod", "127.0.0.1", port, client=docker_client).shutdown()


def test_a_serve_token_reaches_the_container_and_the_smoke_test(
    project: Project, images: dict[str, PushedImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy job's token file (a Jenkins file credential, a GitLab file variable) becomes
    the container's token: the deploy's smoke test passes with it, and /predict asks for it."""
    token_file = project.root / "serve-token"
    token_file.write_text("canary-docker-token-91c2\n")
    monkeypatch.setenv("LEPTON_SERVE_TOKEN_FILE", str(token_file))
    release(project, images["v1"])
    outcome = deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root)
    assert outcome.outcome == "succeeded" and outcome.details["smoke_tested"] is True
    assert post_json(f"{outcome.url}/predict", EXAMPLE)[0] == 401
    assert post_json(f"{outcome.url}/predict", EXAMPLE, token="canary-docker-token-91c2")[0] == 200
