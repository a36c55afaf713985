"""Kubernetes manifests for the ``kubernetes`` environments (pure: no I/O, no client).

``render_k8s`` is what ``lepton-ci deploy`` applies (with the pushed image pinned by digest);
``deploy_outputs`` renders the same manifests into the repository (``deploy/k8s/<env>.yaml``)
with the moving tag, for review and for people who apply manifests themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lepton_ci.render.escape import render_template
from lepton_ci.render.files import GeneratedFile

if TYPE_CHECKING:
    from lepton_ci.pipeline import Pipeline
    from lepton_ci.spec.model import EnvironmentSpec, Spec

PROGRESS_DEADLINE_SECONDS = 300
RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}
SLOTS = ("blue", "green")


def k8s_name(*parts: str) -> str:
    """A DNS-1123 label from model and environment names (``.``/``_`` become ``-``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "model"


@dataclass(frozen=True)
class K8sNames:
    """Object names of one environment; blue-green adds a Deployment per slot."""

    base: str
    namespace: str

    def deployment(self, slot: str | None) -> str:
        return self.base if slot is None else k8s_name(self.base[:56], slot)


def names(spec: Spec, env: EnvironmentSpec) -> K8sNames:
    return K8sNames(k8s_name(spec.model_name, env.name), env.namespace or "default")


def render_k8s(
    spec: Spec,
    env: EnvironmentSpec,
    *,
    image: str,
    version: str,
    digest: str = "",
    slot: str | None = None,
) -> str:
    """ConfigMap + Deployment + Service of ``env`` as multi-document YAML.

    ``slot`` (``blue``/``green``) only for ``strategy: blue-green``: the Deployment is the
    slot's, and the Service selects that slot.
    """
    n = names(spec, env)
    instance = {
        "app.kubernetes.io/name": k8s_name(spec.model_name),
        "app.kubernetes.io/instance": n.base,
    }
    labels = {
        **instance,
        "app.kubernetes.io/managed-by": "lepton-ci",
        "app.kubernetes.io/component": "model-server",
    }
    selector = dict(instance)
    if slot is not None:
        selector["ci.lepton/slot"] = slot
    context: dict[str, Any] = {
        "base_name": n.base,
        "deployment": n.deployment(slot),
        "namespace": n.namespace,
        "model": spec.model_name,
        "environment": env.name,
        "version": version,
        "digest": digest,
        "image": image,
        "replicas": env.replicas,
        "strategy": env.strategy,
        "port": spec.image.port,
        "health_path": env.health_path,
        "workers": spec.serve.workers,
        "max_batch": spec.serve.max_batch,
        "labels": labels,
        "selector": selector,
        "pod_labels": {**labels, **selector, "app.kubernetes.io/version": version},
        "service_selector": selector,
        "resources": RESOURCES,
        "progress_deadline": PROGRESS_DEADLINE_SECONDS,
    }
    return render_template("k8s/manifests.yaml.j2", **context)


def deploy_outputs(spec: Spec, pipeline: Pipeline, spec_path: str) -> list[GeneratedFile]:
    """``deploy/k8s/<env>.yaml`` for every kubernetes environment (empty list otherwise)."""
    files = []
    image = f"{spec.image.registry}/{spec.image_repository}:{spec.image.moving_tag}"
    for env in spec.deploy.environments:
        if env.target != "kubernetes":
            continue
        slot = SLOTS[0] if env.strategy == "blue-green" else None
        body = render_k8s(spec, env, image=image, version="latest", slot=slot)
        files.append(GeneratedFile(f"deploy/k8s/{env.name}.yaml", body, "#", spec_path))
    return files
