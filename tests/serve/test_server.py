"""`lepton-ci serve` as a real process: refuses tampered artifacts, drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from lepton_ci.netutil import free_port

SLOW_PREDICTOR = """
import time

def load(model_dir):
    def predict(inputs):
        time.sleep(float(inputs[0]))
        return {"outputs": inputs, "predictions": ["slept"] * len(inputs)}
    return predict
"""


def start(model_dir: Path, port: int, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd) if cwd else ""}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lepton_ci",
            "serve",
            "--model-dir",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model-version",
            "3",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env=env,
        start_new_session=True,  # its own process group: workers are stopped with it
    )


def wait_ready(proc: subprocess.Popen[str], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}:\n{proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


def test_serves_predictions_over_http(tiny_model: Path, stop) -> None:
    port = free_port()
    proc = start(tiny_model, port)
    stop(proc)
    wait_ready(proc, port)
    response = httpx.post(f"http://127.0.0.1:{port}/predict", json={"inputs": [[1, 2, 3, 4]]})
    assert response.status_code == 200
    assert response.json()["model_version"] == "3"
    assert len(response.json()["predictions"]) == 1
    bad = httpx.post(f"http://127.0.0.1:{port}/predict", json={"inputs": [[1, 2]]})
    assert bad.status_code == 422
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'lepton_http_requests_total{method="POST",route="/predict",status="200"} 1.0' in metrics


def test_refuses_to_start_when_an_artifact_file_was_tampered_with(tiny_model: Path) -> None:
    model = tiny_model / "model.pt"
    model.write_bytes(model.read_bytes() + b"\0")
    port = free_port()
    proc = start(tiny_model, port)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "model.pt" in out
    assert "Traceback" not in out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_refuses_to_start_when_a_file_is_added(tiny_model: Path) -> None:
    (tiny_model / "backdoor.py").write_text("print('hi')")
    proc = start(tiny_model, free_port())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "backdoor.py" in out


def test_sigterm_drains_the_in_flight_request_then_exits(
    tiny_model: Path, tmp_path: Path, stop
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "slow.py").write_text(SLOW_PREDICTOR)
    port = free_port()
    proc = start(
        tiny_model, port, "--entrypoint", "slow:load", "--graceful-timeout", "20", cwd=code
    )
    stop(proc)
    wait_ready(proc, port)
    result: dict[str, object] = {}

    def call() -> None:
        response = httpx.post(
            f"http://127.0.0.1:{port}/predict", json={"inputs": [2.0]}, timeout=30
        )
        result["status"], result["body"] = response.status_code, response.json()

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until the slow request is being served
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        if "lepton_http_requests_in_flight 2.0" in text:  # the slow one + this scrape
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    thread.join(timeout=30)
    assert result.get("status") == 200
    assert result["body"]["predictions"] == ["slept"]  # type: ignore[index]
    # a clean exit; uvicorn re-raises the signal after draining, so supervisors see SIGTERM
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    out = proc.stdout.read()  # type: ignore[union-attr]
    assert "draining" in out


def test_several_workers_each_verify_and_serve(tiny_model: Path, stop) -> None:
    port = free_port()
    proc = start(tiny_model, port, "--workers", "2", "--threads", "1")
    stop(proc)
    wait_ready(proc, port)
    for _ in range(4):
        response = httpx.post(f"http://127.0.0.1:{port}/predict", json={"inputs": [[1, 2, 3, 4]]})
        assert response.status_code == 200
        assert response.json()["model_version"] == "3"


def test_docker_healthcheck_follows_the_serve_port(tiny_model: Path, stop) -> None:
    port = free_port()
    check = [sys.executable, "-m", "lepton_ci.serve.healthcheck"]
    env = {**os.environ, "LEPTON_SERVE_HOST": "0.0.0.0", "LEPTON_SERVE_PORT": str(port)}
    assert subprocess.run(check, env=env, capture_output=True, check=False).returncode == 1
    proc = start(tiny_model, port)
    stop(proc)
    wait_ready(proc, port)
    assert subprocess.run(check, env=env, capture_output=True, check=False).returncode == 0


def test_an_unfinished_artifact_is_refused_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.pt").write_bytes(b"half")
    proc = start(tmp_path / "model", free_port())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "manifest.json" in out and "lepton-ci train" in out


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (None if it stayed open ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    return None


def test_idle_and_trickling_connections_are_closed_and_requests_still_served(
    tiny_model: Path, stop
) -> None:
    """uvicorn alone holds a connection that never completes its headers for ever; serve gives
    each request's headers uvicorn's keep-alive timeout (5 s) to arrive."""
    port = free_port()
    proc = start(tiny_model, port)
    stop(proc)
    wait_ready(proc, port)
    idle = socket.create_connection(("127.0.0.1", port))
    trickle = socket.create_connection(("127.0.0.1", port))
    trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    started = time.monotonic()
    with idle, trickle:
        with httpx.Client() as client:  # a normal client meanwhile, on a kept-alive connection
            for _ in range(3):
                assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
                trickle.sendall(b"X-Slow: 1\r\n")
                time.sleep(1)
        idle_after, trickle_after = closed_within(idle, 10), closed_within(trickle, 10)
    assert idle_after is not None and trickle_after is not None, "a connection was held open"
    assert time.monotonic() - started < 9
