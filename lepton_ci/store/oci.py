"""The OCI registry artifact store: blobs in a repository of an OCI (Docker v2) registry, via httpx.

``oci://HOST[:PORT]/REPOSITORY``; each chunk is an OCI blob of that repository, pushed and fetched
with the OCI Distribution API (opencontainers/distribution-spec, spec.md): ``HEAD`` and ``GET
/v2/<name>/blobs/<digest>``, and a monolithic upload (``POST /v2/<name>/blobs/uploads/``, then
``PUT <location>?digest=…``); a blob the repository holds already is not uploaded again.

Registries garbage-collect blobs that no manifest references, so :meth:`OciStore.flush` pushes an
OCI image manifest (artifact usage, image-spec manifest.md: ``artifactType``
:data:`ARTIFACT_TYPE`, the empty config) whose layers are every blob put in this session, tagged
``lepton-<sha256 of the layer list>``: each stored version's chunks stay referenced.

Plain HTTP for loopback hosts and those listed in ``LEPTON_OCI_INSECURE`` (comma-separated
``HOST[:PORT]``), HTTPS otherwise. Credentials: ``LEPTON_REGISTRY_USER`` /
``LEPTON_REGISTRY_PASSWORD`` (the image registry's), sent as Basic auth or exchanged for a token
when the registry answers with a ``WWW-Authenticate: Bearer realm=…,service=…,scope=…``
challenge (GitLab, Docker Hub, Harbor…); never in the URL, argv or a message.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import threading
from collections.abc import Generator, Iterator
from urllib.parse import urlsplit

import httpx

from lepton_ci.redaction import encoded_forms, redact, redact_values
from lepton_ci.store import ArtifactStore, StoreError, sha256_hex

USER_ENV = "LEPTON_REGISTRY_USER"  # the image registry's (lepton_ci.image.docker_api)
PASSWORD_ENV = "LEPTON_REGISTRY_PASSWORD"
INSECURE_ENV = "LEPTON_OCI_INSECURE"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.lepton-ci.model.v1"
LAYER_TYPE = "application/vnd.lepton-ci.model.chunk.v1"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
TAG_PREFIX = "lepton-"
#: a repository name (distribution-spec: <name>)
NAME = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
_PARAM = re.compile(r'(\w+)="([^"]*)"')
TIMEOUT = 60.0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _insecure(netloc: str, host: str) -> bool:
    listed = {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}
    return _loopback(host) or netloc in listed or host in listed


class _RegistryAuth(httpx.Auth):
    """httpx auth flow: credentials as Basic auth, or traded for a Bearer token at the realm the
    registry's challenge names (one token per scope, reused across requests and threads)."""

    requires_request_body = True
    requires_response_body = True

    def __init__(self, user: str | None, password: str | None) -> None:
        self.user, self.password = user, password
        self.token: str | None = None
        self.basic = False
        self.lock = threading.Lock()
        self.fetching = threading.Lock()

    def _basic(self) -> str | None:
        if not (self.user and self.password):
            return None
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def _authorize(self, request: httpx.Request) -> None:
        basic = self._basic()
        if self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        elif self.basic and basic:
            request.headers["Authorization"] = basic

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self.lock:
            self._authorize(request)
            sent = self.token
        response = yield request
        if response.status_code != 401:
            return
        with self.fetching:  # one token request at a time: the other threads reuse its token
            yield from self._challenged(request, response, sent)

    def _challenged(
        self, request: httpx.Request, response: httpx.Response, sent: str | None
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token and self.token != sent:  # another request fetched one meanwhile
            with self.lock:
                self._authorize(request)
            yield request
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic" and self._basic():
            with self.lock:
                self.basic = True
                self._authorize(request)
            yield request
            return
        if scheme.lower() != "bearer":
            return
        params = dict(_PARAM.findall(rest))
        if "realm" not in params:
            return
        query = {k: params[k] for k in ("service", "scope") if k in params}
        token_request = httpx.Request("GET", params["realm"], params=query)
        basic = self._basic()
        if basic:
            token_request.headers["Authorization"] = basic
        token_response = yield token_request
        if token_response.status_code != 200:
            raise StoreError(
                f"the token server {params['realm']} refused a token for "
                f"{params.get('scope', 'the registry')}: HTTP {token_response.status_code} "
                f"{token_response.text[:300]}",
                hint=f"check {USER_ENV} / {PASSWORD_ENV} and the account's access",
            )
        body = token_response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise StoreError(f"the token server {params['realm']} answered no token")
        with self.lock:
            self.token = str(token)
            self._authorize(request)
        yield request


class OciStore(ArtifactStore):
    parallel = 8  # httpx clients are thread-safe; 8 chunks of 1 MiB in flight at most

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        name = parts.path.strip("/")
        if (
            parts.scheme != "oci"
            or not parts.hostname
            or "@" in parts.netloc
            or parts.query
            or parts.fragment
            or not NAME.match(name)
        ):
            shown = "the URL" if "@" in url else repr(url)  # never echo credentials
            raise StoreError(
                f"artifact store {shown} is not oci://HOST[:PORT]/REPOSITORY (a lowercase "
                "repository name)",
                hint=f"credentials go in {USER_ENV} / {PASSWORD_ENV}, never in the URL",
            )
        self.name = name
        self.location = f"oci://{parts.netloc}/{name}"
        scheme = "http" if _insecure(parts.netloc, parts.hostname) else "https"
        self.base = f"{scheme}://{parts.netloc}/v2/{name}"
        user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
        self._secrets = sorted(encoded_forms(password, [user or ""]) if password else [])
        self.client = httpx.Client(
            auth=_RegistryAuth(user, password),
            timeout=TIMEOUT,
            follow_redirects=True,  # blobs may be served from storage (httpx drops auth there)
        )
        self._layers: dict[str, int] = {}  # digest -> size, the blobs of this session in order
        self._lock = threading.Lock()

    def _redact(self, text: str) -> str:
        return redact(redact_values(text, self._secrets))

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """httpx's errors as ours, with the registry's words (redacted)."""
        try:
            yield
        except httpx.HTTPError as exc:
            raise StoreError(
                self._redact(f"cannot {action} the artifact store {self.location}: {exc}"),
                hint="check the host and port, that the registry answers, and "
                f"{INSECURE_ENV} for a registry on plain HTTP",
            ) from None

    def _fail(self, action: str, response: httpx.Response) -> StoreError:
        words = response.text[:500].strip()
        with contextlib.suppress(ValueError, KeyError, AttributeError, TypeError):
            errors = response.json()["errors"]
            words = "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors)
        hint = (
            f"set {USER_ENV} / {PASSWORD_ENV} to an account that may push to {self.name}"
            if response.status_code in (401, 403)
            else "check the repository name and the registry's log"
        )
        return StoreError(
            self._redact(
                f"cannot {action} the artifact store {self.location}: HTTP "
                f"{response.status_code} {words}".strip()
            ),
            hint=hint,
        )

    def _blob(self, digest: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise StoreError(f"{digest!r} is not a sha256 hex digest")
        return f"{self.base}/blobs/sha256:{digest}"

    def _exists(self, digest: str) -> bool:
        with self._errors("read"):
            response = self.client.head(self._blob(digest))
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail("read", response)
        return True

    def has(self, digest: str) -> bool:
        return self._exists(digest)

    def put(self, digest: str, data: bytes) -> bool:
        with self._lock:
            self._layers.setdefault(digest, len(data))  # referenced by this session's manifest
        return self._upload(digest, data)

    def _upload(self, digest: str, data: bytes) -> bool:
        if self._exists(digest):
            return False
        with self._errors("upload to"):
            started = self.client.post(f"{self.base}/blobs/uploads/")
            if started.status_code != 202 or "Location" not in started.headers:
                raise self._fail("upload to", started)
            # the upload URL keeps its own query (state): the digest is added to it
            location = started.url.join(started.headers["Location"])
            target = location.copy_merge_params({"digest": f"sha256:{digest}"})
            # the registry checks the bytes it received against the digest before storing them
            done = self.client.put(
                target,
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        if done.status_code != 201:
            raise self._fail("upload to", done)
        return True

    def read(self, digest: str) -> bytes:
        with self._errors("download from"):
            response = self.client.get(self._blob(digest))
        if response.status_code == 404:
            raise self.missing(digest)
        if response.status_code != 200:
            raise self._fail("download from", response)
        return bytes(response.content)

    def manifest(self) -> tuple[str, bytes] | None:
        """``(tag, manifest bytes)`` referencing every blob put in this session, or None."""
        with self._lock:
            layers = list(self._layers.items())
        if not layers:
            return None
        listed = "\n".join(digest for digest, _ in layers)
        tag = TAG_PREFIX + hashlib.sha256(listed.encode()).hexdigest()
        body = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": {
                "mediaType": EMPTY_TYPE,
                "digest": f"sha256:{sha256_hex(EMPTY)}",
                "size": len(EMPTY),
                "data": "e30=",
            },
            "layers": [
                {"mediaType": LAYER_TYPE, "digest": f"sha256:{digest}", "size": size}
                for digest, size in layers
            ],
            "annotations": {"org.opencontainers.image.title": "lepton-ci model chunks"},
        }
        return tag, json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    def flush(self) -> None:
        """Push the session's manifest, so the registry keeps every blob it names."""
        found = self.manifest()
        if found is None:
            return
        tag, body = found
        self._upload(sha256_hex(EMPTY), EMPTY)  # the config blob must exist too
        with self._errors("push a manifest to"):
            response = self.client.put(
                f"{self.base}/manifests/{tag}",
                content=body,
                headers={"Content-Type": MANIFEST_TYPE},
            )
        if response.status_code != 201:
            raise self._fail("push a manifest to", response)
        with self._lock:
            self._layers.clear()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
