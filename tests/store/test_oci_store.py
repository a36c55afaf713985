"""The OCI registry store against a real registry: the docker-registry of `.ci/services` on
loopback (Distribution v2), counted at the HTTP level; the Bearer token flow through a loopback
token server in front of it."""

from __future__ import annotations

import base64
import http.server
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lepton_ci.netutil import free_port
from lepton_ci.store import StoreError, open_store
from lepton_ci.store.oci import ARTIFACT_TYPE, EMPTY_TYPE, MANIFEST_TYPE, OciStore
from lepton_ci.store.versions import CHUNK_SIZE, fetch_file, put_file

pytestmark = pytest.mark.usefixtures("oci_env")


def counted(store: OciStore) -> Counter[str]:
    """``"METHOD kind"`` -> requests the store sends (kind: blobs, uploads, manifests, token)."""
    seen: Counter[str] = Counter()

    def hook(request: httpx.Request) -> None:
        path = request.url.path
        kind = next((k for k in ("uploads", "blobs", "manifests") if f"/{k}/" in path), path)
        seen[f"{request.method} {kind}"] += 1

    store.client.event_hooks["request"].append(hook)
    return seen


@pytest.fixture
def url(local_registry: str) -> str:
    return f"oci://{local_registry}/lepton-test/{uuid.uuid4().hex}"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    path.write_bytes(random.Random(0).randbytes(CHUNK_SIZE * 5 // 2))  # 2.5 distinct chunks
    return path


def test_the_same_bytes_are_uploaded_once(url: str, weights: Path, tmp_path: Path) -> None:
    first = OciStore(url)
    requests = counted(first)
    entry, new = put_file(first, weights)
    first.flush()
    assert new == weights.stat().st_size and len(entry["chunks"]) == 3
    assert requests["POST uploads"] == 4  # three chunks and the manifest's empty config

    again = OciStore(url)  # another job: a new client
    requests = counted(again)
    entry_again, new = put_file(again, weights)
    again.flush()
    assert entry_again == entry and new == 0
    assert requests["POST uploads"] == 0 and requests["PUT uploads"] == 0
    assert requests["HEAD blobs"] == 4  # asked, not sent
    fetch_file(again, entry, tmp_path / "pulled")
    assert (tmp_path / "pulled").read_bytes() == weights.read_bytes()


def test_flush_tags_a_manifest_that_references_every_blob(url: str, weights: Path) -> None:
    store = OciStore(url)
    entry, _ = put_file(store, weights)
    store.flush()
    tags = httpx.get(f"{store.base}/tags/list").json()["tags"]
    assert len(tags) == 1 and tags[0].startswith("lepton-")
    response = httpx.get(f"{store.base}/manifests/{tags[0]}", headers={"Accept": MANIFEST_TYPE})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MANIFEST_TYPE
    manifest = response.json()
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == EMPTY_TYPE and manifest["config"]["size"] == 2
    assert [layer["digest"] for layer in manifest["layers"]] == [
        f"sha256:{c}" for c in entry["chunks"]
    ]
    sizes = [layer["size"] for layer in manifest["layers"]]
    assert sum(sizes) == weights.stat().st_size

    # a later session storing nothing new still names what it used: the same manifest
    later = OciStore(url)
    put_file(later, weights)
    later.flush()
    assert httpx.get(f"{store.base}/tags/list").json()["tags"] == tags


def test_a_registry_that_does_not_answer_is_a_store_error(weights: Path) -> None:
    store = OciStore(f"oci://127.0.0.1:{free_port()}/lepton-test/nobody")
    with pytest.raises(StoreError) as caught:
        put_file(store, weights)
    assert caught.value.message.startswith(f"cannot read the artifact store {store.location}: ")
    assert "LEPTON_OCI_INSECURE" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "location",
    [
        "oci://127.0.0.1:5000",  # no repository
        "oci://127.0.0.1:5000/Upper/Case",
        "oci://user:s3cr3t-pass@127.0.0.1:5000/models",
    ],
)
def test_a_bad_oci_location_is_refused_without_echoing_credentials(location: str) -> None:
    with pytest.raises(StoreError) as caught:
        OciStore(location)
    assert "is not oci://HOST[:PORT]/REPOSITORY" in caught.value.message
    assert "s3cr3t" not in caught.value.message


def test_the_spec_and_the_environment_select_the_oci_store(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lepton_ci.spec.loader import parse_spec

    from .conftest import SPEC

    monkeypatch.delenv("LEPTON_ARTIFACTS", raising=False)
    spec = parse_spec(SPEC + f"registry: {{artifacts: '{url}'}}\n", "lepton.yaml")
    store = open_store(spec, tmp_path)
    assert isinstance(store, OciStore) and store.location == url
    assert store.base.startswith("http://")  # loopback: plain HTTP
    monkeypatch.setenv("LEPTON_ARTIFACTS", "oci://registry.example.com/team/models")
    assert open_store(spec, tmp_path).base == "https://registry.example.com/v2/team/models"
    monkeypatch.setenv("LEPTON_OCI_INSECURE", "registry.example.com")
    assert open_store(spec, tmp_path).base == "http://registry.example.com/v2/team/models"


# -- Bearer token flow -------------------------------------------------------------------------

USER, PASSWORD, TOKEN = "ci-bot", "registry-pass-7e1f", "token-for-ci-bot"


@pytest.fixture(params=["bearer"])
def token_registry(
    local_registry: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, list[str]]]:
    """``(HOST:PORT, token requests)``: a loopback front of the registry that answers 401 with a
    Bearer challenge (as GitLab and Docker Hub do) unless the request carries the token its
    ``/token`` realm hands out for ``USER``/``PASSWORD``; with param ``basic``, a Basic
    challenge unless the request carries ``USER``/``PASSWORD``."""
    port = free_port()
    mode = request.param
    upstream = f"http://{local_registry}"
    issued: list[str] = []
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Front(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            if self.path.startswith("/token"):
                issued.append(self.path)
                if self.headers.get("Authorization") != basic:
                    self._answer(401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                    return
                self._answer(
                    200, {"Content-Type": "application/json"}, b'{"token":"%s"}' % TOKEN.encode()
                )
                return
            if mode == "basic" and self.headers.get("Authorization") != basic:
                self._answer(401, {"WWW-Authenticate": 'Basic realm="registry"'}, b"{}")
                return
            if mode == "bearer" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = (
                    f'Bearer realm="http://127.0.0.1:{port}/token",service="test",'
                    'scope="repository:lepton-test/x:pull,push"'
                )
                self._answer(401, {"WWW-Authenticate": challenge}, b'{"errors":[]}')
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            reply = httpx.request(self.command, upstream + self.path, content=body, headers=headers)
            out = {
                k: v.replace(upstream, f"http://127.0.0.1:{port}")
                for k, v in reply.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            self._answer(reply.status_code, out, reply.content)

        do_GET = do_HEAD = do_POST = do_PUT = _serve

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Front)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{port}", issued
    server.shutdown()
    server.server_close()


@pytest.fixture
def round_trip(
    token_registry: tuple[str, list[str]],
    weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[OciStore, dict[str, Any], list[str]]:
    """``weights`` stored through the front with USER/PASSWORD set and pulled back
    byte-identical: ``(store, file record entry, token requests)``."""
    host, issued = token_registry
    monkeypatch.setenv("LEPTON_REGISTRY_USER", USER)
    monkeypatch.setenv("LEPTON_REGISTRY_PASSWORD", PASSWORD)
    store = OciStore(f"oci://{host}/lepton-test/{uuid.uuid4().hex}")
    entry, new = put_file(store, weights)
    store.flush()
    assert new == weights.stat().st_size
    fetch_file(store, entry, tmp_path / "pulled")
    assert (tmp_path / "pulled").read_bytes() == weights.read_bytes()
    return store, entry, issued


def test_a_bearer_challenge_is_answered_with_a_token_from_its_realm(
    round_trip: tuple[OciStore, dict[str, Any], list[str]],
) -> None:
    # one token for every chunk, pushed and pulled: reused, not fetched per request
    assert round_trip[2] == ["/token?service=test&scope=repository%3Alepton-test%2Fx%3Apull%2Cpush"]


def test_refused_credentials_are_a_store_error_without_the_password(
    token_registry: tuple[str, list[str]], weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, _ = token_registry
    monkeypatch.setenv("LEPTON_REGISTRY_USER", USER)
    monkeypatch.setenv("LEPTON_REGISTRY_PASSWORD", "wrong-pass-91c3")
    store = OciStore(f"oci://{host}/lepton-test/{uuid.uuid4().hex}")
    with pytest.raises(StoreError) as caught:
        put_file(store, weights)
    assert "refused a token" in caught.value.message and "HTTP 401" in caught.value.message
    assert "wrong-pass-91c3" not in caught.value.message + (caught.value.hint or "")


@pytest.mark.parametrize("token_registry", ["basic"], indirect=True)
def test_a_basic_challenge_is_answered_with_the_credentials(
    round_trip: tuple[OciStore, dict[str, Any], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, entry, issued = round_trip
    assert issued == []
    monkeypatch.delenv("LEPTON_REGISTRY_PASSWORD")
    with pytest.raises(StoreError) as caught:  # no credentials: the registry's refusal, named
        OciStore(store.location).read(entry["chunks"][0])
    assert "HTTP 401" in caught.value.message
    assert "LEPTON_REGISTRY_USER" in (caught.value.hint or "")
