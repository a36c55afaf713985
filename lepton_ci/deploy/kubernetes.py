"""Target ``kubernetes``: apply the rendered manifests, wait for the rollout, undo on failure.

``rolling``/``recreate``: one Deployment; the previous Deployment spec is kept in memory and
put back when the new one does not become available in time (``kubectl rollout undo`` in
effect). ``blue-green``: two Deployments (``-blue``/``-green``); the idle slot gets the new
version, the Service selector moves only once every replica of it is ready, and the old slot is
then scaled to zero (kept for a fast manual switch back). Credentials: the kubeconfig of
``KUBECONFIG`` / ``~/.kube/config``, or the in-cluster service account.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lepton_ci.console import info
from lepton_ci.deploy.release import Outcome, Release
from lepton_ci.errors import MissingDependency, ServerError
from lepton_ci.retrying import poll_until

if TYPE_CHECKING:
    from lepton_ci.spec.model import EnvironmentSpec, Spec

DIGEST_ANNOTATION = "ci.lepton/image-digest"
VERSION_ANNOTATION = "ci.lepton/model-version"


class RolloutFailed(Exception):
    pass


def api_client() -> Any:
    """A configured ``kubernetes.client.ApiClient`` (kubeconfig, else in-cluster)."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise MissingDependency("kubernetes", "kubernetes") from None
    import os

    # KUBECONFIG is read now, not when the kubernetes package was imported
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if os.path.exists(kubeconfig.split(os.pathsep)[0]):
        try:
            return config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise ServerError(f"cannot use the kubeconfig {kubeconfig}: {exc}") from None
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        raise ServerError(
            f"no Kubernetes credentials: no kubeconfig at {kubeconfig}, not in a cluster ({exc})",
            hint="set KUBECONFIG (the pipeline binds ci.credentials.kubeconfig to it)",
        ) from None
    return client.ApiClient(configuration)


class Cluster:
    """The few API calls a deployment needs, with the API server's errors translated."""

    wait_interval = 1.0  # seconds between rollout status reads

    def __init__(self, api: Any, namespace: str) -> None:
        from kubernetes import client

        self.api = api
        self.ns = namespace
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)

    def _call(self, what: str, fn: Any, *args: Any, missing_ok: bool = False, **kw: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kw)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            from lepton_ci.adapters.base import server_words

            raise ServerError(
                f"Kubernetes refused to {what}: HTTP {exc.status} {server_words(exc.body)}"
            ) from None
        except OSError as exc:
            raise ServerError(f"cannot reach the Kubernetes API to {what}: {exc}") from None

    def as_dict(self, obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return data

    def read(self, kind: str, name: str) -> dict[str, Any] | None:
        fn = {
            "Deployment": self.apps.read_namespaced_deployment,
            "Service": self.core.read_namespaced_service,
            "ConfigMap": self.core.read_namespaced_config_map,
        }[kind]
        obj = self._call(f"read {kind} {name}", fn, name, self.ns, missing_ok=True)
        return None if obj is None else self.as_dict(obj)

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create, or replace keeping the server's resourceVersion (optimistic locking)."""
        kind, name = body["kind"], body["metadata"]["name"]
        create, replace = {
            "Deployment": (
                self.apps.create_namespaced_deployment,
                self.apps.replace_namespaced_deployment,
            ),
            "Service": (self.core.create_namespaced_service, self.core.replace_namespaced_service),
            "ConfigMap": (
                self.core.create_namespaced_config_map,
                self.core.replace_namespaced_config_map,
            ),
        }[kind]
        current = self.read(kind, name)
        if current is None:
            return self.as_dict(self._call(f"create {kind} {name}", create, self.ns, body))
        body = {
            **body,
            "metadata": {
                **body["metadata"],
                "resourceVersion": current["metadata"]["resourceVersion"],
            },
        }
        if kind == "Service":  # clusterIP is immutable once assigned
            body["spec"] = {**body["spec"], "clusterIP": current["spec"].get("clusterIP")}
        return self.as_dict(self._call(f"replace {kind} {name}", replace, name, self.ns, body))

    def delete_deployment(self, name: str) -> None:
        self._call(
            f"delete Deployment {name}",
            self.apps.delete_namespaced_deployment,
            name,
            self.ns,
            missing_ok=True,
        )

    def scale(self, name: str, replicas: int) -> None:
        self._call(
            f"scale Deployment {name}",
            self.apps.patch_namespaced_deployment,
            name,
            self.ns,
            {"spec": {"replicas": replicas}},
        )

    def wait_available(self, name: str, timeout: float) -> None:
        """Until the Deployment's newest generation is fully rolled out and available."""
        last = "no status yet"

        def rolled_out() -> bool:
            nonlocal last
            dep = self.read("Deployment", name)
            if dep is None:
                raise RolloutFailed(f"Deployment {name} disappeared during the rollout")
            want = dep["spec"].get("replicas", 1)
            status = dep.get("status") or {}
            for cond in status.get("conditions") or []:
                if (
                    cond.get("type") == "Progressing"
                    and cond.get("reason") == "ProgressDeadlineExceeded"
                ):
                    raise RolloutFailed(
                        f"{name}: {cond.get('message') or 'progress deadline exceeded'}"
                    )
            current = status.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0)
            updated = status.get("updatedReplicas", 0)
            available = status.get("availableReplicas", 0)
            total = status.get("replicas", 0)
            if current and updated >= want and available >= want and total <= want:
                return True
            last = f"{updated}/{want} updated, {available}/{want} available"
            return False

        poll_until(
            rolled_out,
            timeout=timeout,
            interval=self.wait_interval,
            error=lambda: RolloutFailed(f"{name} was not available after {timeout:g}s ({last})"),
        )


def _docs(
    spec: Spec, env: EnvironmentSpec, release: Release, slot: str | None
) -> list[dict[str, Any]]:
    from ruamel.yaml import YAML

    from lepton_ci.render.deploy import render_k8s

    assert release.image is not None
    text = render_k8s(
        spec,
        env,
        image=release.image,
        version=str(release.version),
        digest=release.digest or "",
        slot=slot,
    )
    return [d for d in YAML(typ="safe").load_all(text) if d]


def deploy_kubernetes(
    spec: Spec, env: EnvironmentSpec, release: Release, *, ready_timeout: float, api: Any = None
) -> Outcome:
    from lepton_ci.render.deploy import SLOTS, names

    n = names(spec, env)
    cluster = Cluster(api or api_client(), n.namespace)
    url = env.url or f"http://{n.base}.{n.namespace}.svc:{spec.image.port}"
    outcome = Outcome(
        env.name,
        "kubernetes",
        release.model,
        release.version,
        release.digest,
        release.image,
        url,
        "succeeded",
    )
    start = time.monotonic()
    service = cluster.read("Service", n.base)
    if env.strategy == "blue-green":
        live_slot = (service or {}).get("spec", {}).get("selector", {}).get("ci.lepton/slot")
        live_name = n.deployment(live_slot) if live_slot else None
        target_slot = SLOTS[1] if live_slot == SLOTS[0] else SLOTS[0]
    else:
        live_name, target_slot = n.deployment(None), None
    live = cluster.read("Deployment", live_name) if live_name else None
    if live is not None:
        notes = live["metadata"].get("annotations") or {}
        outcome.previous = {
            "version": int(notes.get(VERSION_ANNOTATION, 0) or 0),
            "digest": notes.get(DIGEST_ANNOTATION) or None,
        }
        if (
            release.digest
            and notes.get(DIGEST_ANNOTATION) == release.digest
            and (live["spec"].get("replicas") or 0) > 0
        ):
            outcome.outcome = "unchanged"
            return outcome
    docs = {d["kind"]: d for d in _docs(spec, env, release, target_slot)}
    new_name = docs["Deployment"]["metadata"]["name"]
    previous_target = cluster.read("Deployment", new_name)
    cluster.apply(docs["ConfigMap"])
    cluster.apply(docs["Deployment"])
    info(f"applied Deployment {n.namespace}/{new_name}; waiting for the rollout", step="deploy")
    try:
        cluster.wait_available(new_name, ready_timeout)
    except RolloutFailed as exc:
        outcome.outcome = "rolled_back" if live is not None else "failed"
        outcome.reason = str(exc)
        _undo(cluster, new_name, previous_target, blue_green=env.strategy == "blue-green")
        return outcome
    outcome.seconds_to_ready = round(time.monotonic() - start, 3)
    cluster.apply(docs["Service"])
    if env.strategy == "blue-green" and live_name and live_name != new_name:
        cluster.scale(live_name, 0)
        info(
            f"Service {n.base} now selects slot {target_slot}; {live_name} scaled to 0",
            step="deploy",
        )
    outcome.seconds_total = round(time.monotonic() - start, 3)
    return outcome


def _undo(
    cluster: Cluster, name: str, previous: dict[str, Any] | None, *, blue_green: bool
) -> None:
    """Put the Deployment back as it was (or remove it when it did not exist before)."""
    info(f"rollout of {name} failed; undoing", step="deploy")
    if blue_green:  # the Service never moved; the idle slot goes back to idle
        if previous is None:
            cluster.delete_deployment(name)
        else:
            cluster.scale(name, 0)
        return
    if previous is None:
        cluster.delete_deployment(name)
        return
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            k: v
            for k, v in previous["metadata"].items()
            if k in ("name", "namespace", "labels", "annotations")
        },
        "spec": previous["spec"],
    }
    cluster.apply(body)
