"""Zero-downtime version switch behind a front (docker and local targets).

Sequence: start the new version on a fresh loopback port -> wait for its readiness path ->
smoke-test ``/predict`` -> point the front at it (confirmed through the front's status
endpoint) -> wait until the old version has no request in flight -> stop it (SIGTERM, so it
drains too). Any failure before the switch removes the new version; the old one never stopped
taking traffic. The runtime (containers or processes) is behind :class:`Runtime`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from lepton_ci.console import info
from lepton_ci.deploy.probe import get, smoke_test, wait_ready
from lepton_ci.deploy.release import Backend, DeployFailed, Release
from lepton_ci.netutil import free_port
from lepton_ci.retrying import poll, poll_until
from lepton_ci.serve.auth import token_from_env


class Runtime(Protocol):
    """Starts, stops and routes versions of one model in one environment."""

    def live(self) -> Backend | None: ...
    def backends(self) -> list[Backend]: ...
    def start(self, release: Release, port: int) -> Backend: ...
    def alive(self, backend: Backend) -> bool: ...
    def logs(self, backend: Backend) -> str: ...
    def example(self, backend: Backend) -> Any | None: ...
    def ensure_front(self, release: Release) -> None: ...
    def write_upstream(self, generation: str, upstream: str) -> None: ...
    def stop(self, backend: Backend, grace: float) -> None: ...
    def remove(self, backend: Backend) -> None: ...


@dataclass(frozen=True)
class Timings:
    ready: float  # start of deploy -> new version ready (readiness + smoke passed)
    total: float
    smoke_tested: bool


def front_status(front_url: str) -> dict[str, Any] | None:
    try:
        status, body = get(f"{front_url}/-/lepton-front", timeout=1.0)
    except OSError:
        return None
    if status != 200:
        return None
    data: dict[str, Any] = json.loads(body)
    return data


def route(runtime: Runtime, front_url: str, backend: Backend, timeout: float = 30.0) -> None:
    """Point the front at ``backend`` and wait until the front confirms it."""
    generation = f"{time.time_ns()}"
    upstream = f"127.0.0.1:{backend.port}"
    runtime.write_upstream(generation, upstream)

    def switched() -> bool:
        status = front_status(front_url) or {}
        return status.get("generation") == generation and status.get("upstream") == upstream

    poll_until(
        switched,
        timeout=timeout,
        interval=0.05,
        error=lambda: DeployFailed(
            f"the front at {front_url} did not switch to {upstream} in {timeout:g}s"
        ),
    )


def drain(front_url: str, backend: Backend, timeout: float) -> None:
    """Wait until the front has no request in flight to ``backend`` (or ``timeout``)."""
    upstream = f"127.0.0.1:{backend.port}"

    def drained() -> bool:
        status = front_status(front_url)
        return status is None or not status.get("active", {}).get(upstream)

    poll(drained, timeout=timeout, interval=0.1)


def switch(
    runtime: Runtime,
    release: Release,
    *,
    front_url: str,
    health_path: str,
    ready_timeout: float,
    smoke_input: Any,
    drain_timeout: float = 30.0,
    step: str = "deploy",
) -> tuple[Backend, Backend | None, Timings]:
    """Bring ``release`` up and route traffic to it; raise :class:`DeployFailed` otherwise."""
    start = time.monotonic()
    old = runtime.live()
    port = free_port()
    info(f"starting version {release.version} on 127.0.0.1:{port}", step=step)
    new = runtime.start(release, port)
    routing = False
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + health_path, timeout=ready_timeout, alive=lambda: runtime.alive(new))
        if smoke_input is None:  # last resort: the example shipped inside the version itself
            smoke_input = runtime.example(new)
        if smoke_input is None:
            info("no smoke-test input found (see docs/deploy.md); readiness alone gates", step=step)
        else:
            smoke_test(base, smoke_input, token=token_from_env())
            info(f"version {release.version} passed the smoke test", step=step)
        ready = time.monotonic() - start
        runtime.ensure_front(release)
        routing = True
        route(runtime, front_url, new)
    except BaseException as exc:
        logs = runtime.logs(new)
        if routing and old is not None:  # the front may already point at the new version
            runtime.write_upstream(f"{time.time_ns()}", f"127.0.0.1:{old.port}")
        runtime.remove(new)
        if isinstance(exc, DeployFailed):
            raise DeployFailed(exc.reason, logs) from None
        raise
    info(f"traffic switched to version {release.version}", step=step)
    if old is not None and old.handle != new.handle:
        drain(front_url, old, drain_timeout)
        runtime.stop(old, grace=drain_timeout)
        info(f"retired version {old.version}", step=step)
    for stray in runtime.backends():  # leftovers of an interrupted deploy or a crashed front
        if stray.handle != new.handle:
            runtime.stop(stray, grace=5.0)
            info(f"removed stray version {stray.version} (port {stray.port})", step=step)
    return new, old, Timings(ready, time.monotonic() - start, smoke_input is not None)
