"""Steady traffic through a deployment's front, and which version answers."""

from __future__ import annotations

import http.client
import json
import threading

from tests.deploy.models import EXAMPLE


def serving(url: str) -> int:
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    conn.request("GET", "/readyz")
    return int(json.loads(conn.getresponse().read())["model_version"])


class Load:
    """Steady /predict traffic through the front from a thread: bounded, counts failures."""

    def __init__(self, url: str, limit: int = 5000) -> None:
        self.url, self.limit = url.removeprefix("http://"), limit
        self.ok = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.url, timeout=10)
        while not self.stop.is_set() and self.ok + len(self.failures) < self.limit:
            try:
                conn.request(
                    "POST",
                    "/predict",
                    body=json.dumps(EXAMPLE),
                    headers={"Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {resp.status}: {body[:100]!r}")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                conn = http.client.HTTPConnection(self.url, timeout=10)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
