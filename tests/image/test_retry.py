"""A registry that fails transiently: `image push` retries and succeeds, with the digest the
registry finally stored. The failure is real HTTP: a loopback proxy in front of the local
registry answers the first manifest upload with 503."""

from __future__ import annotations

import http.client
import io
import tarfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lepton_ci.dotenv import read_dotenv, write_dotenv
from lepton_ci.image import push_image
from lepton_ci.layout import LAYOUT
from lepton_ci.spec.loader import load_spec

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class FlakyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream
        self.failures = failures
        self.manifest_puts = 0
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FlakyProxy

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        body = self._body()
        if self.command == "PUT" and "/manifests/" in self.path:
            self.server.manifest_puts += 1
            if self.server.manifest_puts <= self.server.failures:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


@pytest.fixture
def flaky_registry(local_registry: str):
    proxy = FlakyProxy(local_registry, failures=1)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def test_push_retries_a_transient_registry_failure(
    tmp_path: Path, flaky_registry: FlakyProxy, docker_client
) -> None:
    address = f"127.0.0.1:{flaky_registry.server_address[1]}"
    (tmp_path / "lepton.yaml").write_text(
        "version: 1\nproject: {name: flaky, model: flaky}\n"
        'train: {entrypoint: "a.b:c"}\nevaluate: {entrypoint: "a.b:d"}\n'
        f'image: {{registry: "{address}", repository: retry/tiny}}\n'
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ref = f"{address}/retry/tiny:v1"
    docker_client.api.import_image_from_data(buffer.getvalue(), repository=ref[:-3], tag="v1")
    write_dotenv(tmp_path / str(LAYOUT.image_build_env), {"LEPTON_IMAGE_TAGS": ref})

    result = push_image(
        load_spec(tmp_path / "lepton.yaml"),
        root=tmp_path,
        run_dir=tmp_path / ".lepton/run",
        record=False,
        backoff=0.1,
    )

    assert flaky_registry.manifest_puts >= 2  # failed once, then went through
    assert read_dotenv(tmp_path / str(LAYOUT.image_env))["LEPTON_IMAGE_DIGEST"] == result.digest
    local = docker_client.images.get(ref).attrs["RepoDigests"]
    assert f"{address}/retry/tiny@{result.digest}" in local
    docker_client.images.remove(ref, force=True)
