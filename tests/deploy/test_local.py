"""Target local: versions as `lepton-ci serve` processes behind the front, no container engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lepton_ci.deploy.core import deploy, rollback
from lepton_ci.deploy.local import LocalRuntime
from lepton_ci.deploy.probe import post_json
from lepton_ci.netutil import free_port
from lepton_ci.runtime.manifest import TamperedArtifact, read_manifest
from tests.deploy.conftest import Project
from tests.deploy.load import Load, serving
from tests.deploy.models import EXAMPLE, write_model

pytestmark = pytest.mark.slow


@pytest.fixture
def local_project(make_project: Callable[..., Project]) -> Iterator[Project]:
    port = free_port()
    project = make_project(f"    - name: dev\n      target: local\n      port: {port}\n", port=port)
    yield project
    LocalRuntime(project.root, "dev", "127.0.0.1", port).shutdown()


def train(project: Project, seed: int) -> int:
    """What `lepton-ci train` + `models register` leave in the run dir."""
    model_dir = write_model(project.run_dir / "train", seed)
    return project.register(read_manifest(model_dir))


def test_deploy_switches_versions_without_failed_requests_and_rolls_back(
    local_project: Project,
) -> None:
    project = local_project
    first = train(project, seed=1)
    outcome = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    assert outcome.outcome == "succeeded" and serving(outcome.url) == first
    assert outcome.details["smoke_tested"] is True  # input_example.json of the artifact
    assert (project.run_dir / "deploy/dev.env").read_text() == f"LEPTON_DEPLOY_URL={outcome.url}\n"

    second = train(project, seed=2)
    with Load(outcome.url) as load:
        outcome = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    assert outcome.outcome == "succeeded" and outcome.previous["version"] == first
    assert load.ok > 0 and load.failures == []
    assert serving(outcome.url) == second

    with Load(outcome.url) as load:
        back = rollback(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    assert back.version == first and serving(back.url) == first
    assert load.failures == []
    history = [(d.version, d.outcome) for d in project.registry.deployments("deploy-test", "dev")]
    assert history == [(first, "succeeded"), (second, "succeeded"), (first, "succeeded")]


def test_redeploying_the_live_version_is_a_no_op(local_project: Project) -> None:
    project = local_project
    train(project, seed=1)
    first = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    again = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    assert again.outcome == "unchanged" and again.digest == first.digest
    assert len(project.registry.deployments("deploy-test", "dev")) == 1


def test_tampered_artifact_is_refused_and_the_old_version_keeps_serving(
    local_project: Project,
) -> None:
    project = local_project
    good = train(project, seed=1)
    url = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root).url
    bad = train(project, seed=2)
    model = project.run_dir / "train" / "model.pt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed after training
    model.write_bytes(bytes(data))
    # refused before anything starts: the files no longer match the registered version
    with Load(url) as load, pytest.raises(TamperedArtifact, match=r"model\.pt"):
        deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root, ready_timeout=60)
    assert load.failures == [] and serving(url) == good
    latest = project.registry.deployments("deploy-test", "dev")[0]
    assert (latest.version, latest.outcome) == (good, "succeeded")
    assert bad not in [d.version for d in project.registry.deployments("deploy-test", "dev")]


def test_local_deploy_needs_a_trained_model(make_project: Callable[..., Project]) -> None:
    project = make_project("    - name: dev\n      target: local\n")
    project.register()
    with pytest.raises(Exception, match="holds no trained model"):
        deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    assert not Path(project.run_dir / "deploy/dev.json").exists()


def test_a_serve_token_protects_the_version_and_the_smoke_test_sends_it(
    local_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy job's LEPTON_SERVE_TOKEN (a CI secret) reaches the version it starts, and its
    own smoke request carries it: the deploy succeeds, and /predict asks for the token."""
    project = local_project
    train(project, seed=1)
    monkeypatch.setenv("LEPTON_SERVE_TOKEN", "canary-serve-token-7f3a")
    outcome = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    assert outcome.outcome == "succeeded" and outcome.details["smoke_tested"] is True
    example = EXAMPLE
    assert post_json(f"{outcome.url}/predict", example)[0] == 401
    status, _ = post_json(f"{outcome.url}/predict", example, token="canary-serve-token-7f3a")
    assert status == 200


def test_a_version_that_exited_but_is_not_reaped_yet_is_not_alive() -> None:
    import subprocess
    import time

    from lepton_ci.deploy.local import pid_alive, terminate

    running = subprocess.Popen(["sleep", "600"])
    exited = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while pid_alive(exited.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(exited.pid)  # a zombie: exited, its parent (we) not told yet
        assert pid_alive(running.pid)
        terminate(running.pid, grace=5)
        assert running.poll() is not None
    finally:
        running.kill()
        running.wait()
        exited.wait()
