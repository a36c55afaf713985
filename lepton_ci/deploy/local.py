"""Target ``local``: versions and the front as background processes (no container engine).

For laptops without Docker. State lives in ``.lepton/deploy/<env>/`` under the project root:
``backends.json`` (pid, port, version, digest of each running version), ``upstream`` (the
front's upstream file), ``front.pid``, ``releases/<version>/`` (a copy of each deployed
artifact, so a rollback has the files even after the next training run) and ``logs/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from lepton_ci.deploy.release import Backend, DeployFailed, Release
from lepton_ci.deploy.serve_command import serve_args
from lepton_ci.deploy.switch import front_status
from lepton_ci.fsutil import atomic_write_json
from lepton_ci.retrying import poll, poll_until

STATE_DIR = ".lepton/deploy"


def state_dir(root: Path, environment: str) -> Path:
    return Path(root) / STATE_DIR / environment


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs and may be signalled by us (an exited, unreaped zombie does not)."""
    try:
        os.kill(pid, 0)
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
        return False
    except psutil.AccessDenied:
        return True


def terminate(pid: int, grace: float) -> None:
    """SIGTERM (the process drains), SIGKILL after ``grace`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return

    def gone() -> bool:
        _reap(pid)
        return not pid_alive(pid)

    if poll(gone, timeout=grace, interval=0.05):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
        os.waitpid(pid, os.WNOHANG)


class LocalRuntime:
    def __init__(self, root: Path, environment: str, front_host: str, front_port: int) -> None:
        self.dir = state_dir(root, environment)
        self.front_host = front_host
        self.front_port = front_port
        self.front_url = f"http://{front_host}:{front_port}"
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)

    # -- state ---------------------------------------------------------------------------------
    def _backends(self) -> list[Backend]:
        path = self.dir / "backends.json"
        if not path.is_file():
            return []
        return [Backend(**entry) for entry in json.loads(path.read_text())]

    def _save(self, backends: list[Backend]) -> None:
        atomic_write_json(self.dir / "backends.json", [b.__dict__ for b in backends])

    def release_dir(self, version: int) -> Path:
        return self.dir / "releases" / str(version)

    def stage(self, model_dir: Path, version: int) -> Path:
        """Copy the artifact so this version keeps its files whatever later training does."""
        target = self.release_dir(version)
        if not (target / "manifest.json").is_file():
            tmp = target.with_name(f".{version}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(model_dir, tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
        return target

    # -- Runtime -------------------------------------------------------------------------------
    def live(self) -> Backend | None:
        status = front_status(self.front_url)
        if not status or not status.get("upstream"):
            return None
        port = int(str(status["upstream"]).rpartition(":")[2])
        for backend in self._backends():
            if backend.port == port and self.alive(backend):
                return backend
        return None

    def backends(self) -> list[Backend]:
        return self._backends()

    def start(self, release: Release, port: int) -> Backend:
        assert release.model_dir is not None
        log = (self.dir / "logs" / f"v{release.version}-{port}.log").open("ab")
        argv = [
            sys.executable,
            "-m",
            "lepton_ci",
            "serve",
            *serve_args(port, release.version, str(release.model_dir)),
        ]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        log.close()
        backend = Backend(release.version, release.digest, port, str(proc.pid))
        self._save([*self._backends(), backend])
        return backend

    def alive(self, backend: Backend) -> bool:
        _reap(int(backend.handle))
        return pid_alive(int(backend.handle))

    def logs(self, backend: Backend) -> str:
        path = self.dir / "logs" / f"v{backend.version}-{backend.port}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    def example(self, backend: Backend) -> Any | None:
        return None  # the staged artifact was already searched (smoke.find_smoke_input)

    def ensure_front(self, release: Release) -> None:
        status = front_status(self.front_url)
        if status is not None:
            pid_file = self.dir / "front.pid"
            if pid_file.exists() and str(status.get("pid")) == pid_file.read_text().strip():
                return  # our own front, from an earlier deploy of this environment
            raise DeployFailed(
                f"{self.front_url} is served by another lepton-ci front (not this environment's);"
                " stop that deployment or give this environment another port"
            )
        log = (self.dir / "logs" / "front.log").open("ab")
        argv = [
            sys.executable,
            "-m",
            "lepton_ci.deploy.proxy",
            "--listen",
            f"{self.front_host}:{self.front_port}",
            "--upstream-file",
            str(self.dir / "upstream"),
        ]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        log.close()
        (self.dir / "front.pid").write_text(str(proc.pid))

        def cannot_listen() -> DeployFailed:
            tail = (self.dir / "logs" / "front.log").read_text(errors="replace")[-500:]
            return DeployFailed(f"the front could not listen on {self.front_url}", tail)

        def listening() -> bool:
            if front_status(self.front_url) is not None:
                return True
            if proc.poll() is not None:
                raise cannot_listen()
            return False

        poll_until(listening, timeout=15, interval=0.05, error=cannot_listen)

    def write_upstream(self, generation: str, upstream: str) -> None:
        tmp = self.dir / ".upstream.tmp"
        tmp.write_text(f"{generation} {upstream} end\n")
        os.replace(tmp, self.dir / "upstream")

    def stop(self, backend: Backend, grace: float) -> None:
        terminate(int(backend.handle), grace)
        self._save([b for b in self._backends() if b.handle != backend.handle])

    def remove(self, backend: Backend) -> None:
        self.stop(backend, grace=5.0)

    def shutdown(self) -> None:
        """Stop every version and the front of this environment (``lepton-ci`` never does this
        on its own; tests and people tearing an environment down do)."""
        for backend in self._backends():
            self.stop(backend, grace=10.0)
        pid_file = self.dir / "front.pid"
        if pid_file.is_file():
            terminate(int(pid_file.read_text()), 10.0)
            pid_file.unlink()
