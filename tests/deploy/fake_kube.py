"""A fake kube-apiserver on loopback: the REST subset a deployment uses, answered as the
documented API does (object shapes, resourceVersion conflicts, generation and rollout status).

The "controller" inside advances a Deployment's status one step per read: first the new
generation is observed with nothing updated, then every replica is updated and available.
Pods whose image contains ``never-ready`` never become available, as a failing readiness probe
would leave them.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTES = re.compile(
    r"^/(?:api/v1|apis/apps/v1)/namespaces/(?P<ns>[^/]+)/(?P<res>deployments|services|configmaps)"
    r"(?:/(?P<name>[^/?]+))?(?:/status)?(?:\?.*)?$"
)
KINDS = {"deployments": "Deployment", "services": "Service", "configmaps": "ConfigMap"}


def merge(base: Any, patch: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(base.get(key), value)
    return out


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.version = 100
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def get(self, res: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((res, ns, name))

    # -- behaviour -----------------------------------------------------------------------------
    def _next_version(self) -> str:
        self.version += 1
        return str(self.version)

    def _advance(self, obj: dict[str, Any]) -> None:
        spec, status = obj["spec"], obj.setdefault("status", {})
        want = spec.get("replicas", 1)
        gen = obj["metadata"]["generation"]
        images = [c["image"] for c in spec["template"]["spec"]["containers"]]
        if status.get("observedGeneration") != gen:
            status.update(observedGeneration=gen, updatedReplicas=0, replicas=want)
            status.pop("conditions", None)
        elif any("never-ready" in i for i in images):
            status.update(
                updatedReplicas=want,
                replicas=want,
                readyReplicas=0,
                availableReplicas=0,
                unavailableReplicas=want,
            )
        else:
            status.update(
                updatedReplicas=want, replicas=want, readyReplicas=want, availableReplicas=want
            )
            status.pop("unavailableReplicas", None)

    def _store(
        self, res: str, ns: str, body: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        meta["namespace"] = ns
        meta["resourceVersion"] = self._next_version()
        meta.setdefault("uid", f"uid-{self.version}")
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        body["kind"] = KINDS[res]
        body["apiVersion"] = "apps/v1" if res == "deployments" else "v1"
        if res == "deployments":
            prev_gen = old["metadata"]["generation"] if old else 0
            same = old is not None and old["spec"] == body["spec"]
            meta["generation"] = prev_gen if same else prev_gen + 1
            body["status"] = copy.deepcopy(old.get("status", {})) if old else {}
        if res == "services":
            body["spec"].setdefault("clusterIP", "10.0.0.10")
        self.objects[(res, ns, meta["name"])] = body
        return body

    # -- HTTP ----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._send(
                    code,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": message,
                        "reason": reason,
                        "code": code,
                    },
                )

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length", 0))
                return json.loads(self.rfile.read(length) or b"null")

            def _route(self) -> tuple[str, str, str | None] | None:
                fake.requests.append((self.command, self.path))
                match = ROUTES.match(self.path)
                if not match:
                    self._status(404, "NotFound", f"no route {self.path}")
                    return None
                return match["res"], match["ns"], match["name"]

            def do_GET(self) -> None:
                route = self._route()
                if route is None:
                    return
                res, ns, name = route
                with fake.lock:
                    obj = fake.get(res, ns, name or "")
                    if obj is None:
                        self._status(404, "NotFound", f'{res} "{name}" not found')
                        return
                    if res == "deployments":
                        fake._advance(obj)
                    self._send(200, obj)

            def do_POST(self) -> None:
                route = self._route()
                if route is None:
                    return
                res, ns, _ = route
                body = self._body()
                with fake.lock:
                    if fake.get(res, ns, body["metadata"]["name"]) is not None:
                        self._status(409, "AlreadyExists", "already exists")
                        return
                    self._send(201, fake._store(res, ns, body, None))

            def do_PUT(self) -> None:
                route = self._route()
                if route is None:
                    return
                res, ns, name = route
                body = self._body()
                with fake.lock:
                    old = fake.get(res, ns, name or "")
                    if old is None:
                        self._status(404, "NotFound", f'{res} "{name}" not found')
                        return
                    if (
                        body["metadata"].get("resourceVersion")
                        != old["metadata"]["resourceVersion"]
                    ):
                        self._status(409, "Conflict", "the object has been modified")
                        return
                    self._send(200, fake._store(res, ns, body, old))

            def do_PATCH(self) -> None:
                route = self._route()
                if route is None:
                    return
                res, ns, name = route
                with fake.lock:
                    old = fake.get(res, ns, name or "")
                    if old is None:
                        self._status(404, "NotFound", f'{res} "{name}" not found')
                        return
                    body = merge(copy.deepcopy(old), self._body())
                    body.pop("status", None)
                    self._send(200, fake._store(res, ns, body, old))

            def do_DELETE(self) -> None:
                route = self._route()
                if route is None:
                    return
                res, ns, name = route
                with fake.lock:
                    if fake.objects.pop((res, ns, name or ""), None) is None:
                        self._status(404, "NotFound", f'{res} "{name}" not found')
                        return
                    self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

        return Handler
