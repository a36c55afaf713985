"""Real servers a team's CI has, started on loopback for the CI-faithful harness.

- ``package_index`` (session): a PEP 503 package index (``pypiserver``) holding the wheel of
  this checkout, as a team's internal index holds lepton-ci: the generated jobs install
  lepton-ci from it (``lepton-ci.index_url``), PyPI staying the default index.
- ``mlflow_server`` (session): ``mlflow server`` over HTTP with its own SQLite store and
  artifact root: the shared model registry every job of a pipeline talks to.

Both are processes of their own on free ports, stopped at the end of the session; their logs
go to files under the session's temporary directory and are shown when they fail to start.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from lepton_ci.netutil import free_port

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@contextmanager
def _serving(argv: list[str], url: str, probe: str, log: Path, timeout: float) -> Iterator[Server]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + probe, timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{argv[0]} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield Server(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def package_index(lepton_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``/simple/`` URL of an index that serves lepton-ci built from this checkout."""
    root = tmp_path_factory.mktemp("index")
    packages = root / "packages"
    packages.mkdir()
    shutil.copy2(lepton_wheel, packages / lepton_wheel.name)
    port = free_port()
    argv = [
        str(VENV_BIN / "pypi-server"),
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-fallback",  # what it lacks comes from PyPI, the default index
        "--authenticate",
        ".",
        "--passwords",
        ".",
        str(packages),
    ]
    url = f"http://127.0.0.1:{port}"
    with _serving(argv, url, "/simple/", root / "pypiserver.log", timeout=60):
        yield f"{url}/simple/"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tracking URI (``http://127.0.0.1:PORT``) of a running MLflow server."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    url = f"http://127.0.0.1:{port}"
    with _serving(argv, url, "/health", root / "mlflow-server.log", timeout=120):
        yield url
