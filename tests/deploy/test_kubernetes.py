"""Target kubernetes: manifests judged by kubernetes-validate; apply / wait / undo against a
fake kube-apiserver over real HTTP, through the real kubernetes client and kubeconfig loading."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from lepton_ci.deploy.core import DeployRolledBack, deploy, rollback
from lepton_ci.render.deploy import render_k8s
from lepton_ci.render.outputs import generated_files
from tests.deploy.conftest import Project
from tests.deploy.fake_kube import FakeKube

K8S_VERSION = "1.30.0"  # the oldest Kubernetes we support; manifests must validate against it
DIGEST1 = "sha256:" + "1" * 64
DIGEST2 = "sha256:" + "2" * 64

ROLLING = """\
    - name: prod
      target: kubernetes
      replicas: 2
      namespace: models
      health_path: /readyz
"""
BLUE_GREEN = """\
    - name: prod
      target: kubernetes
      strategy: blue-green
      replicas: 3
"""


@pytest.fixture
def fake_kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    fake = FakeKube()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
                "users": [{"name": "fake", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr("lepton_ci.deploy.kubernetes.Cluster.wait_interval", 0.01)
    yield fake
    fake.close()


def docs(text: str) -> list[dict]:
    return [d for d in YAML(typ="safe").load_all(text) if d]


@pytest.mark.parametrize("envs", [ROLLING, BLUE_GREEN], ids=["rolling", "blue-green"])
def test_rendered_manifests_pass_kubernetes_validate(
    make_project: Callable[..., Project], envs: str
) -> None:
    project = make_project(envs)
    [generated] = [f for f in generated_files(project.spec) if f.path.startswith("deploy/k8s/")]
    assert generated.path == "deploy/k8s/prod.yaml"
    objects = docs(generated.content)
    assert [o["kind"] for o in objects] == ["ConfigMap", "Deployment", "Service"]
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    container = objects[1]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"]


def test_hostile_values_stay_data(make_project: Callable[..., Project]) -> None:
    project = make_project(ROLLING)
    env = project.spec.deploy.environments[0]
    text = render_k8s(project.spec, env, image='evil"\nkind: Secret', version="1")
    [_, deployment, _] = docs(text)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == 'evil"\nkind: Secret'


def test_no_manifests_without_kubernetes_environments(make_project: Callable[..., Project]) -> None:
    project = make_project("    - name: dev\n      target: local\n")
    assert not [f for f in generated_files(project.spec) if f.path.startswith("deploy/k8s/")]


def _release(project: Project, digest: str, image: str = "registry.test/deploy-test:v") -> int:
    version = project.register()
    project.set_image(version, f"{image}{version}", digest)
    return version


def test_rolling_deploy_applies_waits_and_records(
    make_project: Callable[..., Project], fake_kube: FakeKube
) -> None:
    project = make_project(ROLLING)
    version = _release(project, DIGEST1)
    outcome = deploy(
        project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30
    )
    assert outcome.outcome == "succeeded"
    dep = fake_kube.get("deployments", "models", "deploy-test-prod")
    assert dep is not None
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"registry.test/deploy-test@{DIGEST1}"  # pinned by digest
    assert dep["status"]["availableReplicas"] == 2  # we waited until the rollout completed
    assert fake_kube.get("services", "models", "deploy-test-prod") is not None
    [record] = project.registry.deployments("deploy-test", "prod")
    assert (record.version, record.outcome, record.image_digest) == (version, "succeeded", DIGEST1)
    written = json.loads((project.run_dir / "deploy/prod.json").read_text())
    assert written["outcome"] == "succeeded" and written["version"] == version
    assert (project.run_dir / "deploy/prod.env").read_text().startswith("LEPTON_DEPLOY_URL=http")


def test_same_digest_is_a_no_op(make_project: Callable[..., Project], fake_kube: FakeKube) -> None:
    project = make_project(ROLLING)
    _release(project, DIGEST1)
    deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30)
    writes = [r for r in fake_kube.requests if r[0] != "GET"]
    again = deploy(
        project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30
    )
    assert again.outcome == "unchanged"
    assert [r for r in fake_kube.requests if r[0] != "GET"] == writes
    assert len(project.registry.deployments("deploy-test", "prod")) == 1


def test_failed_rollout_is_undone_and_recorded_rolled_back(
    make_project: Callable[..., Project], fake_kube: FakeKube
) -> None:
    project = make_project(ROLLING)
    good = _release(project, DIGEST1)
    deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30)
    bad = _release(project, DIGEST2, image="registry.test/never-ready:v")
    with pytest.raises(DeployRolledBack, match=f"version {good} kept serving"):
        deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=1)
    dep = fake_kube.get("deployments", "models", "deploy-test-prod")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(DIGEST1)
    records = project.registry.deployments("deploy-test", "prod")
    assert [(r.version, r.outcome) for r in records] == [(bad, "rolled_back"), (good, "succeeded")]


def test_blue_green_switches_the_service_then_rolls_back(
    make_project: Callable[..., Project], fake_kube: FakeKube
) -> None:
    project = make_project(BLUE_GREEN)
    first = _release(project, DIGEST1)
    deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30)
    service = fake_kube.get("services", "default", "deploy-test-prod")
    assert service["spec"]["selector"]["ci.lepton/slot"] == "blue"
    second = _release(project, DIGEST2)
    deploy(project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30)
    service = fake_kube.get("services", "default", "deploy-test-prod")
    assert service["spec"]["selector"]["ci.lepton/slot"] == "green"
    assert fake_kube.get("deployments", "default", "deploy-test-prod-blue")["spec"]["replicas"] == 0
    back = rollback(
        project.spec, "prod", run_dir=project.run_dir, root=project.root, ready_timeout=30
    )
    assert back.version == first
    service = fake_kube.get("services", "default", "deploy-test-prod")
    assert service["spec"]["selector"]["ci.lepton/slot"] == "blue"
    blue = fake_kube.get("deployments", "default", "deploy-test-prod-blue")
    assert (
        blue["spec"]["replicas"] == 3
        and blue["metadata"]["annotations"]["ci.lepton/image-digest"] == DIGEST1
    )
    versions = [r.version for r in project.registry.deployments("deploy-test", "prod")]
    assert versions == [first, second, first]


def _kubeconfig_present() -> bool:
    return bool(os.environ.get("KUBECONFIG")) or (Path.home() / ".kube" / "config").is_file()


@pytest.mark.live
@pytest.mark.skipif(
    not _kubeconfig_present(), reason="no kubeconfig (KUBECONFIG or ~/.kube/config)"
)
@pytest.mark.skipif(
    not os.environ.get("LEPTON_K8S_TEST_IMAGE"),
    reason="LEPTON_K8S_TEST_IMAGE (a model image the cluster can pull) is not set",
)
def test_live_cluster_deploy(make_project: Callable[..., Project]) -> None:
    """Opt-in: deploys LEPTON_K8S_TEST_IMAGE to namespace LEPTON_K8S_TEST_NAMESPACE (default
    ``lepton-ci-test``) of the cluster your kubeconfig points at, then removes it."""
    namespace = os.environ.get("LEPTON_K8S_TEST_NAMESPACE", "lepton-ci-test")
    project = make_project(
        f"    - name: live\n      target: kubernetes\n      namespace: {namespace}\n"
    )
    version = project.register()
    image = os.environ["LEPTON_K8S_TEST_IMAGE"]
    project.set_image(version, image, os.environ.get("LEPTON_K8S_TEST_DIGEST", ""))
    from kubernetes import client

    from lepton_ci.deploy.kubernetes import api_client

    try:
        outcome = deploy(
            project.spec, "live", run_dir=project.run_dir, root=project.root, ready_timeout=300
        )
        assert outcome.outcome == "succeeded"
    finally:
        api = api_client()
        client.AppsV1Api(api).delete_namespaced_deployment("deploy-test-live", namespace)
        client.CoreV1Api(api).delete_namespaced_service("deploy-test-live", namespace)
        client.CoreV1Api(api).delete_namespaced_config_map("deploy-test-live", namespace)
