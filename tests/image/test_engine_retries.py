"""`image push` through the Docker engine does not retry what the engine already retried.

The engine tries each layer upload 5 times, 5 to 20 s apart (moby distribution/xfer/upload.go),
and says so in the push stream. Retrying such a push 4 more times held a push against a
registry answering 500 for 207 s (24 requests). The stream below is what Debian's docker.io
28.2 sent for one push to a loopback registry answering 500 to every request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lepton_ci.errors import ServerError
from lepton_ci.image import docker_api

RECORDED = Path(__file__).parent / "data" / "dockerd-28.2-push-500.jsonl"


class Engine:
    """The part of docker-py's client a push uses, answering with a recorded stream."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks
        self.pushes = 0
        self.api = self

    def push(self, name: str, **_: Any) -> Iterator[dict[str, Any]]:
        self.pushes += 1
        return iter(self.chunks)


def push(engine: Engine, sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> ServerError:
    monkeypatch.setattr(docker_api.time, "sleep", sleeps.append)
    with pytest.raises(ServerError) as caught:
        docker_api.with_retries(
            lambda: docker_api.stream_push(engine, "127.0.0.1:5999/r/tiny", "v1", None, []),
            what="push",
        )
    return caught.value


def test_a_push_the_engine_retried_five_times_is_not_retried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, sleeps = Engine([json.loads(line) for line in RECORDED.read_text().splitlines()]), []
    error = push(engine, sleeps, monkeypatch)
    assert engine.pushes == 1 and sleeps == []
    assert str(error) == (
        "push 127.0.0.1:5999/r/tiny:v1 failed: received unexpected HTTP status: 500 Internal "
        "Server Error (the Docker engine already retried the upload 5 times)"
    )


def test_a_failure_the_engine_did_not_retry_is_retried_with_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A manifest upload answered 503 at once (no countdown in the stream): ours to retry."""
    engine = Engine([{"error": "received unexpected HTTP status: 503 Service Unavailable"}])
    sleeps: list[float] = []
    error = push(engine, sleeps, monkeypatch)
    assert engine.pushes == 4 and sleeps == [1.0, 2.0, 4.0]
    assert str(error).endswith("503 Service Unavailable (after 4 attempts)")
