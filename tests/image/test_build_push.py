"""`lepton-ci image build|push` against the real Docker engine and local registry, and the
image serving predictions on the host network."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest
import torch

from lepton_ci.dotenv import read_dotenv
from lepton_ci.image import build_image, push_image
from lepton_ci.layout import LAYOUT
from lepton_ci.netutil import free_port
from lepton_ci.registry import open_registry
from tests.image.project import HOSTILE_TITLE, make_project, spec_of, train_and_register

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(tmp_path_factory, base_image: str, local_registry: str, docker_client):
    repo = f"lepton-test/tiny-{uuid.uuid4().hex[:8]}"
    root = make_project(
        tmp_path_factory.mktemp("proj"), base=base_image, registry=local_registry, repository=repo
    )
    train_and_register(root, seed=0)
    yield root
    remove_images(docker_client, f"{local_registry}/{repo}")


@pytest.fixture(scope="module")
def built(project: Path, lepton_wheel: Path, monkeypatch_module):
    monkeypatch_module.chdir(project)
    result = build_image(
        spec_of(project), root=project, run_dir=project / ".lepton/run", wheel=str(lepton_wheel)
    )
    return result


@pytest.fixture(scope="module")
def pushed(project: Path, built, monkeypatch_module):
    return push_image(spec_of(project), root=project, run_dir=project / ".lepton/run", backoff=0.2)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def remove_images(docker_client, repository: str) -> None:
    """Untag what the tests built (layers shared with other images stay)."""
    for image in docker_client.images.list(name=repository):
        for tag in image.tags:
            docker_client.images.remove(tag, force=True)


def manifest_digest_at_registry(registry: str, repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def test_build_tags_the_model_version_commit_and_moving_tag(project: Path, built) -> None:
    spec = spec_of(project)
    repo = f"{spec.image.registry}/{spec.image.repository}"
    tags = [ref.removeprefix(repo + ":") for ref in built.references]
    assert tags[0] == "v1"
    assert tags[1].startswith("git-") and len(tags[1]) == 16
    assert tags[2] == "latest"  # the checkout is on the default branch
    env = read_dotenv(project / str(LAYOUT.image_build_env))
    assert env["LEPTON_IMAGE_ID"] == built.image_id
    assert env["LEPTON_IMAGE_TAGS"].split(",") == built.references


def test_image_carries_oci_labels_with_values_intact(project: Path, built, docker_client) -> None:
    from lepton_ci.runtime.manifest import manifest_digest

    image = docker_client.images.get(built.image_id)
    labels = image.labels
    assert labels["org.opencontainers.image.title"] == HOSTILE_TITLE
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["io.lepton-ci.manifest-digest"] == manifest_digest(project / ".lepton/run/train")
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert image.attrs["Config"]["User"] == "10001:10001"
    assert "lepton_ci.serve.healthcheck" in image.attrs["Config"]["Healthcheck"]["Test"][-1]


def test_push_writes_the_digest_for_later_jobs_and_the_model_registry(
    project: Path, pushed, local_registry: str
) -> None:
    spec = spec_of(project)
    env = read_dotenv(project / str(LAYOUT.image_env))
    assert env["LEPTON_IMAGE"] == pushed.image
    assert env["LEPTON_IMAGE_DIGEST"] == pushed.digest
    assert pushed.digest == manifest_digest_at_registry(local_registry, spec.image.repository, "v1")
    assert env["LEPTON_IMAGE_REF"] == f"{local_registry}/{spec.image.repository}@{pushed.digest}"
    with open_registry(spec, project) as registry:
        version = registry.get("tiny", 1)
    assert (version.image, version.image_digest) == (pushed.image, pushed.digest)


def test_pushed_image_serves_predictions_on_the_host_network(
    project: Path, pushed, docker_client
) -> None:
    port = free_port()
    container = docker_client.containers.run(
        pushed.image,
        detach=True,
        network_mode="host",
        environment={"LEPTON_SERVE_HOST": "127.0.0.1", "LEPTON_SERVE_PORT": str(port)},
    )
    try:
        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            container.reload()
            assert container.status != "exited", container.logs().decode()[-2000:]
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, container.logs().decode()[-2000:]
        assert ready.json()["model_version"] == "1"
        inputs = [[0.5, -0.5, 1.0, 2.0]]
        body = httpx.post(f"http://127.0.0.1:{port}/predict", json={"inputs": inputs}).json()
        model = torch.jit.load(str(project / ".lepton/run/train/model.pt"))
        assert body["predictions"] == model(torch.tensor(inputs)).argmax(dim=1).tolist()
    finally:
        container.remove(force=True)


def test_a_build_with_nothing_changed_builds_nothing(
    project: Path, built, pushed, lepton_wheel: Path, docker_client, capfd
) -> None:
    """Same context, build arguments and base as an image the engine has: that image is
    tagged and staged again, and the engine is not asked to build (no Dockerfile step runs)."""
    capfd.readouterr()
    again = build_image(
        spec_of(project), root=project, run_dir=project / ".lepton/run", wheel=str(lepton_wheel)
    )
    log = capfd.readouterr().err
    assert again.reused and again.image_id == built.image_id
    assert again.references == built.references
    assert "image inputs unchanged" in log and "Step 1/" not in log, log
    assert again.staged == built.staged and again.bytes_pushed == 0
    label = docker_client.images.get(built.image_id).labels["ci.lepton.image.inputs"]
    assert label.startswith("sha256:")


def test_a_model_only_change_rebuilds_and_pushes_only_the_model_layer(
    project: Path, pushed, lepton_wheel: Path, docker_client
) -> None:
    before = docker_client.images.get(pushed.image).attrs["RootFS"]["Layers"]
    version = train_and_register(project, seed=1)
    spec = spec_of(project)
    rebuilt = build_image(
        spec, root=project, run_dir=project / ".lepton/run", wheel=str(lepton_wheel)
    )
    after = docker_client.images.get(rebuilt.image_id).attrs["RootFS"]["Layers"]
    assert rebuilt.references[0].endswith(f":v{version}") and not rebuilt.reused
    assert after[:-1] == before[:-1]
    assert after[-1] != before[-1]
    second = push_image(spec, root=project, run_dir=project / ".lepton/run", backoff=0.2)
    assert second.digest != pushed.digest
    assert rebuilt.layers_pushed == 1  # the build staged it: only the model layer went up
    assert second.bytes_pushed == 0  # the push moved tags registry to registry
    labels = json.loads(json.dumps(docker_client.images.get(rebuilt.image_id).labels))
    assert labels["org.opencontainers.image.version"] == str(version)
