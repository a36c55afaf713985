"""HTTP checks a new version must pass before it takes traffic: readiness, then a smoke test."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from lepton_ci.deploy.release import DeployFailed
from lepton_ci.retrying import poll_until


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post_json(
    url: str, payload: Any, timeout: float = 10.0, token: str | None = None
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(
    url: str, *, timeout: float, alive: Callable[[], bool], interval: float = 0.2
) -> float:
    """Poll ``url`` until it answers 200; fail early when the version died. Returns seconds."""
    start = time.monotonic()
    last = "no answer"

    def ready() -> bool:
        nonlocal last
        if not alive():
            raise DeployFailed(f"the new version exited before it was ready ({last})")
        try:
            status, body = get(url)
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
            return False
        if status == 200:
            return True
        last = f"HTTP {status}: {body[:200].decode(errors='replace')}"
        return False

    poll_until(
        ready,
        timeout=timeout,
        interval=interval,
        error=lambda: DeployFailed(f"{url} was not ready after {timeout:g}s (last answer: {last})"),
    )
    return time.monotonic() - start


def smoke_test(base_url: str, payload: Any, token: str | None = None) -> dict[str, Any]:
    """POST one known-good input to ``/predict`` (with the serve token, if one is set); the
    version must answer 200 with JSON."""
    try:
        status, body = post_json(f"{base_url}/predict", payload, token=token)
    except (OSError, ValueError) as exc:
        raise DeployFailed(f"smoke test: POST /predict failed: {exc}") from None
    if status != 200:
        text = body[:300].decode(errors="replace")
        raise DeployFailed(f"smoke test: POST /predict answered HTTP {status}: {text}")
    try:
        answer: dict[str, Any] = json.loads(body)
    except json.JSONDecodeError:
        raise DeployFailed("smoke test: POST /predict did not answer JSON") from None
    return answer
