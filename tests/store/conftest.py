"""Fixtures: a real S3 API server on loopback (moto's standalone server), the registry of
`.ci/services` (Debian's docker-registry, Distribution v2) for OCI, the three artifact stores,
and run directories as `train` + `evaluate` leave them, registered through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lepton_ci.netutil import free_port
from lepton_ci.runtime.manifest import build_manifest, write_manifest
from tests.e2e.servers import mlflow_server  # noqa: F401
from tests.registry.conftest import evaluation, mlflow_uri  # noqa: F401
from tests.services import REPO, local_registry, services_env  # noqa: F401

MODEL = "digits-cnn"
SPEC = """\
version: 1
project: {name: Digits CNN, model: digits-cnn}
train: {entrypoint: digits.train:train}
evaluate: {entrypoint: digits.evaluate:evaluate}
gates: [accuracy >= 0.9]
"""
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)
#: the docker-registry's filesystem storage (`.ci/services` writes its config.yml)
REGISTRY_STORAGE = REPO / ".ci" / ".cache" / "registry" / "data" / "docker" / "registry" / "v2"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT``: moto's S3 API server as its own process (not the in-process
    mock), on a free port, for the whole session."""
    pytest.importorskip("moto.server", reason="the test extra (moto[server]) is not installed")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start on {url} (see {log.name})")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS configuration from this machine leaks into a test."""
    for var in AWS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_bucket(
    moto_server: str, aws_env: None, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A fresh bucket of this test's own; the standard AWS variables point at the server."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lepton-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lepton-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    bucket = f"models-{abs(hash(request.node.nodeid)) % 10**10}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@dataclass
class Store:
    """An artifact store as the tests see it: its location and what it holds."""

    kind: str
    location: str
    bucket: str | None = None
    #: OCI: the repository's name; its blobs are read in the registry's storage directory
    repository: str | None = None
    #: OCI: blob files overwritten by the test, with their bytes, put back at teardown
    altered: dict[Path, bytes] = field(default_factory=dict)

    def elsewhere(self, tmp_path: Path) -> str:
        """A store of the same kind that holds nothing."""
        if self.repository is not None:
            return self.location.rsplit("/", 1)[0] + f"/{uuid.uuid4().hex}"
        return f"s3://{self.bucket}/elsewhere" if self.bucket else str(tmp_path / "empty")

    def _oci_blobs(self) -> dict[str, Path]:
        layers = REGISTRY_STORAGE / "repositories" / str(self.repository) / "_layers" / "sha256"
        if not layers.is_dir():
            pytest.skip(f"the registry's storage is not {REGISTRY_STORAGE} (another checkout's?)")
        return {
            f"blobs/sha256/{d.name}": REGISTRY_STORAGE
            / "blobs"
            / "sha256"
            / d.name[:2]
            / d.name
            / "data"
            for d in layers.iterdir()
        }

    def blobs(self) -> dict[str, int]:
        """``{key: size}`` of every blob."""
        if self.repository is not None:
            return {key: path.stat().st_size for key, path in self._oci_blobs().items()}
        if self.bucket is None:
            root = Path(self.location)
            return {
                p.relative_to(root).as_posix(): p.stat().st_size
                for p in root.rglob("*")
                if p.is_file()
            }
        import boto3

        pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def overwrite(self, key: str, data: bytes) -> None:
        if self.repository is not None:  # the registry's own file: put back at teardown
            path = self._oci_blobs()[key]
            self.altered.setdefault(path, path.read_bytes())
            path.write_bytes(data)
            return
        if self.bucket is None:
            path = Path(self.location) / key
            path.chmod(0o644)
            path.write_bytes(data)
            return
        import boto3

        boto3.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data)

    def read(self, key: str) -> bytes:
        if self.repository is not None:
            return self._oci_blobs()[key].read_bytes()
        if self.bucket is None:
            return (Path(self.location) / key).read_bytes()
        import boto3

        body = boto3.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"]
        return bytes(body.read())


@pytest.fixture
def oci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry credentials from this machine leak into a test."""
    for var in ("LEPTON_REGISTRY_USER", "LEPTON_REGISTRY_PASSWORD", "LEPTON_OCI_INSECURE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(params=["local", "s3", "oci"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """Each store in turn, configured the way users do: env LEPTON_ARTIFACTS (the spec's
    registry.artifacts is tested on its own). OCI: a fresh repository of the local registry."""
    monkeypatch.delenv("LEPTON_REGISTRY", raising=False)
    if request.param == "local":
        location = str(tmp_path / "shared" / "artifacts")
        found = Store("local", location)
    elif request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        found = Store("s3", f"s3://{bucket}/lepton", bucket)
    else:
        registry = request.getfixturevalue("local_registry")
        request.getfixturevalue("oci_env")
        repository = f"lepton-test/{uuid.uuid4().hex}"
        found = Store("oci", f"oci://{registry}/{repository}", repository=repository)
    monkeypatch.setenv("LEPTON_ARTIFACTS", found.location)
    yield found
    for path, data in found.altered.items():  # the registry's storage is shared by every test
        path.write_bytes(data)


def write_layers(
    model_dir: Path, changed: int | None = None, layers: int = 8, model: str = MODEL
) -> Path:
    """A TorchScript model of ``layers`` 512x512 linear layers (1 MiB of weights each), the
    same every time except layer ``changed``, which gets weights of its own, and its
    manifest."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(*[torch.nn.Linear(512, 512) for _ in range(layers)])
    if changed is not None:
        torch.manual_seed(1000 + changed)
        with torch.no_grad():
            module[changed % layers].weight.normal_()
    model_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch.jit is deprecated; serve still loads it
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(module.eval(), torch.zeros(1, 512))
        torch.jit.save(traced, str(model_dir / "model.pt"))
    (model_dir / "labels.json").write_text(json.dumps(["a", "b", "c"]))
    return finish(model_dir, seed=changed or 0, model=model)


def finish(model_dir: Path, seed: int, model: str = MODEL) -> Path:
    manifest = build_manifest(
        model_dir,
        model=model,
        root=model_dir,
        data_hash="sha256:" + "0" * 64,
        params={"seed": seed},
        seed=seed,
        device="cpu",
        durations={"train_seconds": 0.0},
        cache_key=f"test-{seed}",
    )
    write_manifest(model_dir, manifest)
    return model_dir


def evaluate(run_dir: Path, model: str = MODEL, accuracy: float = 0.95) -> Path:
    """What `lepton-ci evaluate` leaves: a passing evaluation."""
    (run_dir / "evaluate").mkdir(parents=True, exist_ok=True)
    (run_dir / "evaluate" / "metrics.json").write_text(
        json.dumps(evaluation(accuracy, model=model))
    )
    return run_dir


Lepton = Callable[..., tuple[int, str, str]]


@pytest.fixture
def lepton(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run `lepton-ci ARGS` in-process in directory ``cwd``; returns (exit code, out, err)."""
    from lepton_ci.cli import main

    def run(*args: str, cwd: Path) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def project(root: Path, registry: Path, extra: str = "") -> Path:
    """A checkout with lepton.yaml whose registry is the shared file ``registry``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "lepton.yaml").write_text(SPEC + f"registry: {{path: '{registry}'}}\n" + extra)
    return root
