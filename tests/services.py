"""Shared pytest fixtures for everything that needs Docker, the local registry or a model.

Use them from any test package by importing them into its ``conftest.py``::

    from tests.services import base_image, docker_client, local_registry, tiny_model  # noqa: F401

- ``docker_client`` (session): a ``docker.DockerClient`` for the engine `.ci/services` started
  (``dockerd --bridge=none``). Containers MUST use ``network_mode="host"`` and bind 127.0.0.1.
- ``local_registry`` (session): ``"127.0.0.1:5000"``, Debian's docker-registry, no auth.
- ``base_image`` (session): ``"lepton-ci/base:bookworm-torch2.13.0"`` (python3, CPU torch and
  lepton-ci[serve]'s dependencies), the base of every test image; set ``image.base`` to it.
- ``tiny_model`` (function): a directory holding a TorchScript ``model.pt`` (4 inputs -> 3
  classes) and a contract-1 ``manifest.json``; ``make_tiny_model(path)`` does the same anywhere.
- ``lepton_wheel`` (session): a wheel of this checkout (``pip wheel --no-deps``), for offline
  image builds (``LEPTON_CI_WHEEL`` / ``--lepton-wheel``).
- ``postgres_server`` (session): a throw-away PostgreSQL server (``initdb`` into a temporary
  directory, ``pg_ctl start`` on 127.0.0.1 and a free port, password auth); its password is in
  ``PGPASSWORD`` for the session, never in a URL or argv. ``.create_database()`` gives each test
  its own database URL. Skips only when no PostgreSQL binaries are installed (Debian:
  ``apt-get install postgresql``; ``.ci/setup`` does).

The session fixtures run ``.ci/services`` once (idempotent; the first run builds the base
image, ~1-2 minutes) and skip, saying why, only when the Docker engine truly cannot start
(exit 3); any other failure of the services (registry, base image) fails the tests.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES = REPO / ".ci" / "services"


@pytest.fixture(scope="session")
def services_env() -> dict[str, str]:
    """KEY=value lines printed by `.ci/services` (DOCKER_HOST, LEPTON_LOCAL_REGISTRY, ...)."""
    proc = subprocess.run(
        ["bash", str(SERVICES)],
        capture_output=True,
        text=True,
        env={**os.environ, "LEPTON_PYTHON": sys.executable},
        timeout=900,
        check=False,
    )
    tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
    if proc.returncode == 3:  # .ci/services: no Docker engine can start on this machine
        pytest.skip(f"no Docker engine can start here:\n{tail}")
    if proc.returncode != 0:
        pytest.fail(f".ci/services failed (exit {proc.returncode}):\n{tail}", pytrace=False)
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    os.environ.setdefault("DOCKER_HOST", env["DOCKER_HOST"])
    return env


@pytest.fixture(scope="session")
def docker_client(services_env: dict[str, str]) -> Iterator[Any]:
    docker = pytest.importorskip("docker", reason="the docker extra is not installed")
    client = docker.DockerClient(base_url=services_env["DOCKER_HOST"])
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Docker engine does not answer at {services_env['DOCKER_HOST']}: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def local_registry(services_env: dict[str, str]) -> str:
    return services_env["LEPTON_LOCAL_REGISTRY"]


@pytest.fixture(scope="session")
def base_image(services_env: dict[str, str], docker_client: Any) -> str:
    return services_env["LEPTON_BASE_IMAGE"]


@pytest.fixture(scope="session")
def lepton_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w", str(out)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("lepton_ci-*.whl"))


def make_tiny_model(model_dir: Path, *, seed: int = 0, name: str = "tiny") -> Path:
    """Write a TorchScript classifier (4 features -> 3 classes) and its manifest."""
    import torch

    from lepton_ci.runtime.manifest import build_manifest, write_manifest

    model_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    scripted = torch.jit.trace(module.eval(), torch.zeros(1, 4))
    torch.jit.save(scripted, str(model_dir / "model.pt"))
    (model_dir / "labels.json").write_text('["setosa", "versicolor", "virginica"]')
    manifest = build_manifest(
        model_dir,
        model=name,
        root=model_dir,
        data_hash="sha256:" + "0" * 64,
        params={"seed": seed},
        seed=seed,
        device="cpu",
        durations={"train_seconds": 0.0},
        cache_key=f"tiny-{seed}",
    )
    write_manifest(model_dir, manifest)
    return model_dir


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return make_tiny_model(tmp_path / "model")


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (PATH first, then Debian's layout)."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


@dataclass(frozen=True)
class PostgresServer:
    """A running throw-away server; connect as ``user`` with ``PGPASSWORD`` set."""

    port: int
    user: str
    password: str
    host: str = "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; its URL (without the password)."""
        import psycopg

        conninfo = f"host={self.host} port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(conninfo, password=self.password, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_server_user() -> tuple[list[str], str | None]:
    """initdb refuses root: as root, run the server as `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"], user
    pytest.fail("running as root, and neither a `postgres` nor a `nobody` user exists")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from lepton_ci.netutil import free_port

    try:
        import psycopg  # noqa: F401
    except ImportError:  # the test extras include it: a broken install, not a reason to skip
        pytest.fail("psycopg is not installed: pip install 'lepton-ci[postgres]'", pytrace=False)

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql")
    prefix, user = _as_server_user()
    # not under pytest's tmp dir: that is private to root, and the server runs as another user
    home = Path(tempfile.mkdtemp(prefix="lepton-pg-"))
    data, log, pwfile = home / "data", home / "server.log", home / "pwfile"
    password = secrets.token_urlsafe(18)
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (home, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(port=free_port(), user="lepton", password=password)

    def run(*args: str, timeout: int = 120) -> None:
        proc = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(args[:2])} failed:\n{proc.stderr[-2000:]}\n{tail}")

    run(
        str(bindir / "initdb"),
        f"--pgdata={data}",
        f"--username={server.user}",
        f"--pwfile={pwfile}",  # the password never in argv
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-sync",
    )
    pwfile.unlink()
    options = (
        f"-c listen_addresses={server.host} -c port={server.port} "
        f"-c unix_socket_directories={home} -c max_connections=200"
    )
    run(str(bindir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "60",
        "-o", options)  # fmt: skip
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = password  # libpq reads it; spawned workers inherit it
    try:
        yield server
    finally:
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)
