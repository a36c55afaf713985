"""Target ``docker``: one host, versions as containers behind a front container.

Every container runs with ``network_mode="host"`` and publishes nothing: each version's
``lepton-ci serve`` listens on its own loopback port, and the front (``lepton_ci.deploy.proxy``,
started from the model image itself) listens on the environment's port. The front's upstream
file lives inside the front container and is replaced through the Docker API
(``put_archive``), so switching needs no host directory and no extra control port. Containers
carry labels (``ci.lepton.*``) from which the state is read back; nothing is kept on the agent.

A deployment is identified by model, environment **and the front's port**, never by names
alone: two checkouts of one model repository (same model and environment names, other
ports) are two deployments, and neither ever touches the other's front or versions.
"""

from __future__ import annotations

import io
import tarfile
import time
from typing import Any

from lepton_ci.deploy.release import Backend, DeployFailed, Release
from lepton_ci.deploy.serve_command import serve_env
from lepton_ci.deploy.switch import front_status
from lepton_ci.errors import MissingDependency, ServerError
from lepton_ci.retrying import poll_until

LABEL = "ci.lepton"
UPSTREAM_DIR = "/tmp"
UPSTREAM_NAME = "lepton-upstream"


def docker_client() -> Any:
    try:
        import docker
    except ImportError:
        raise MissingDependency("docker", "docker") from None
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise ServerError(
            f"cannot reach the Docker engine: {exc}",
            hint="start dockerd (or set DOCKER_HOST) on the deploy agent",
        ) from None


def _api_errors(action: str):  # type: ignore[no-untyped-def]
    """Context manager turning docker SDK errors into ServerError with the engine's words."""
    import contextlib

    import docker

    @contextlib.contextmanager
    def guard():  # type: ignore[no-untyped-def]
        try:
            yield
        except docker.errors.ImageNotFound as exc:
            raise DeployFailed(f"{action}: image not found: {exc.explanation or exc}") from None
        except docker.errors.APIError as exc:
            raise ServerError(f"{action}: Docker answered: {exc.explanation or exc}") from None

    return guard()


class DockerRuntime:
    def __init__(
        self, model: str, environment: str, front_host: str, front_port: int, client: Any = None
    ) -> None:
        self.client = client or docker_client()
        self.model = model
        self.environment = environment
        self.front_host = front_host
        self.front_port = front_port
        self.front_url = (
            f"http://127.0.0.1:{front_port}"
            if front_host in ("0.0.0.0", "::")
            else f"http://{front_host}:{front_port}"
        )
        self.front_name = f"lepton-{model}-{environment}-{front_port}-front"

    def _labels(self, role: str, **extra: str) -> dict[str, str]:
        return {
            f"{LABEL}.model": self.model,
            f"{LABEL}.environment": self.environment,
            f"{LABEL}.front-port": str(self.front_port),
            f"{LABEL}.role": role,
            **{f"{LABEL}.{k}": v for k, v in extra.items()},
        }

    def _containers(self) -> list[Any]:
        filters = {
            "label": [
                f"{LABEL}.model={self.model}",
                f"{LABEL}.environment={self.environment}",
                f"{LABEL}.front-port={self.front_port}",
                f"{LABEL}.role=version",
            ]
        }
        with _api_errors("listing containers"):
            return list(self.client.containers.list(all=True, filters=filters))

    @staticmethod
    def _backend(container: Any) -> Backend:
        labels = container.labels
        return Backend(
            int(labels[f"{LABEL}.version"]),
            labels.get(f"{LABEL}.digest") or None,
            int(labels[f"{LABEL}.port"]),
            container.id,
        )

    # -- Runtime -------------------------------------------------------------------------------
    def live(self) -> Backend | None:
        status = front_status(self.front_url)
        if not status or not status.get("upstream"):
            return None
        port = int(str(status["upstream"]).rpartition(":")[2])
        for container in self._containers():
            backend = self._backend(container)
            if backend.port == port and container.status == "running":
                return backend
        return None

    def backends(self) -> list[Backend]:
        return [self._backend(c) for c in self._containers()]

    def _ensure_image(self, image: str) -> None:
        import docker

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            with _api_errors(f"pulling {image}"):
                self.client.images.pull(image)

    def start(self, release: Release, port: int) -> Backend:
        assert release.image is not None
        self._ensure_image(release.image)
        name = f"lepton-{self.model}-{self.environment}-v{release.version}-{port}"
        labels = self._labels(
            "version", version=str(release.version), port=str(port), digest=release.digest or ""
        )
        with _api_errors(f"starting {name}"):
            container = self.client.containers.run(
                release.image,
                environment=serve_env(port, release.version),
                name=name,
                labels=labels,
                network_mode="host",
                detach=True,
                restart_policy={"Name": "unless-stopped"},
                stop_signal="SIGTERM",
            )
        return Backend(release.version, release.digest, port, container.id)

    def _get(self, handle: str) -> Any | None:
        import docker

        try:
            return self.client.containers.get(handle)
        except docker.errors.NotFound:
            return None

    def alive(self, backend: Backend) -> bool:
        container = self._get(backend.handle)
        if container is None:
            return False
        container.reload()
        # a restarting container (restart policy after a crash) is not alive either
        state = container.attrs.get("State", {})
        crashed = state.get("Restarting") or container.attrs.get("RestartCount", 0) > 0
        return bool(container.status == "running" and not crashed)

    def logs(self, backend: Backend) -> str:
        container = self._get(backend.handle)
        if container is None:
            return ""
        try:
            return str(container.logs(tail=30).decode(errors="replace"))
        except Exception:
            return ""

    def example(self, backend: Backend) -> Any | None:
        """``input_example.json`` from the artifact inside the version's image, if it has one."""
        import json

        from lepton_ci.deploy.smoke import EXAMPLE_FILE, as_request
        from lepton_ci.render.docker import MODEL_DIR

        container = self._get(backend.handle)
        if container is None:
            return None
        try:
            stream, _ = container.get_archive(f"{MODEL_DIR}/{EXAMPLE_FILE}")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile(EXAMPLE_FILE)
                return None if member is None else as_request(json.loads(member.read()))
        except Exception:  # no example in this image: the smoke test is skipped
            return None

    def ensure_front(self, release: Release) -> None:
        import docker

        try:
            front = self.client.containers.get(self.front_name)
        except docker.errors.NotFound:
            front = None
        if front is not None and front.status == "running" and front_status(self.front_url):
            return
        if front is not None:
            with _api_errors("replacing the stopped front"):
                front.remove(force=True)
        assert release.image is not None
        with _api_errors("starting the front"):
            front = self.client.containers.run(
                release.image,
                entrypoint=["python3", "-m", "lepton_ci.deploy.proxy"],
                command=[
                    "--listen",
                    f"{self.front_host}:{self.front_port}",
                    "--upstream-file",
                    f"{UPSTREAM_DIR}/{UPSTREAM_NAME}",
                ],
                name=self.front_name,
                labels=self._labels("front"),
                healthcheck=self._front_healthcheck(),
                network_mode="host",
                detach=True,
                restart_policy={"Name": "unless-stopped"},
            )

        def cannot_listen() -> DeployFailed:
            logs = front.logs(tail=20).decode(errors="replace")
            return DeployFailed(f"the front could not listen on {self.front_url}", logs)

        def listening() -> bool:
            if front_status(self.front_url) is not None:
                return True
            front.reload()
            if front.status not in ("created", "running"):
                raise cannot_listen()
            return False

        poll_until(listening, timeout=30, interval=0.1, error=cannot_listen)

    def _front_healthcheck(self) -> dict[str, Any]:
        """The image's HEALTHCHECK probes serve's port; the front is checked on its own."""
        probe = (
            "import urllib.request; "
            f"urllib.request.urlopen('{self.front_url}/-/lepton-front', timeout=3)"
        )
        second = 1_000_000_000
        return {
            "test": ["CMD", "python3", "-c", probe],
            "interval": 10 * second,
            "timeout": 5 * second,
            "retries": 3,
            "start_period": 5 * second,
        }

    def write_upstream(self, generation: str, upstream: str) -> None:
        data = f"{generation} {upstream} end\n".encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(UPSTREAM_NAME)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        with _api_errors("switching the front"):
            front = self.client.containers.get(self.front_name)
            front.put_archive(UPSTREAM_DIR, buffer.getvalue())

    def stop(self, backend: Backend, grace: float) -> None:
        container = self._get(backend.handle)
        if container is None:
            return
        with _api_errors(f"retiring version {backend.version}"):
            container.stop(timeout=int(grace))
            container.remove(force=True)

    def remove(self, backend: Backend) -> None:
        container = self._get(backend.handle)
        if container is not None:
            with _api_errors(f"removing version {backend.version}"):
                container.remove(force=True)

    def shutdown(self) -> None:
        """Remove every version and the front of this environment (tests, teardown)."""
        for container in self._containers():
            container.remove(force=True)
        front = self._get(self.front_name)
        if front is not None:
            front.remove(force=True)
