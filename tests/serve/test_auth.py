"""Access control and body limits of `lepton-ci serve`.

With ``LEPTON_SERVE_TOKEN`` (or ``LEPTON_SERVE_TOKEN_FILE``, a mounted secret) set, ``/predict``
answers 401 unless the request carries ``Authorization: Bearer <token>``; the probes stay open and
``/metrics`` is protected only with ``--protect-metrics``. The token never appears in a response,
a metric, the config's repr or the start-up line. A request body is read chunk by chunk and
refused with 413 as soon as it outgrows the limit, Content-Length or not.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lepton_ci.errors import LeptonError
from lepton_ci.serve.app import create_app, load_model
from lepton_ci.serve.auth import token_from_env
from lepton_ci.serve.config import ServeConfig
from lepton_ci.serve.server import _access_line
from tests.serve.test_app import metric

TOKEN = "s3cr3t-token-Zq9"
BODY = b'{"inputs": [[0.1, 0.2, 0.3, 0.4]]}'


@pytest.fixture
def config(tiny_model: Path) -> ServeConfig:
    return ServeConfig(model_dir=tiny_model, threads=1, batch_size=1, token=TOKEN)


def test_predict_needs_the_bearer_token_and_the_probes_do_not(config: ServeConfig) -> None:
    with TestClient(create_app(config)) as client:
        missing = client.post("/predict", content=BODY)
        wrong = client.post("/predict", content=BODY, headers={"authorization": "Bearer nope"})
        basic = client.post("/predict", content=BODY, headers={"authorization": f"Basic {TOKEN}"})
        right = client.post("/predict", content=BODY, headers={"authorization": f"Bearer {TOKEN}"})
        probes = [client.get("/healthz").status_code, client.get("/readyz").status_code]
        text = client.get("/metrics").text
    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert right.status_code == 200, right.text
    assert probes == [200, 200]
    assert metric(text, "lepton_predict_errors_total", reason="unauthorized") == 3
    assert TOKEN not in text + missing.text + wrong.text


def test_metrics_need_the_token_only_when_protected(config: ServeConfig) -> None:
    protected = ServeConfig(**{**config.__dict__, "protect_metrics": True})
    with TestClient(create_app(protected)) as client:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "lepton_model_info" in ok.text


def test_without_a_token_the_api_is_open_and_serve_says_so(tiny_model: Path) -> None:
    open_config = ServeConfig(model_dir=tiny_model, threads=1, batch_size=1)
    with TestClient(create_app(open_config)) as client:
        assert client.post("/predict", content=BODY).status_code == 200
    assert "open to anyone who can reach 127.0.0.1:8080" in _access_line(open_config)


def test_the_token_is_never_in_the_config_repr_or_the_start_up_line(
    config: ServeConfig,
) -> None:
    for text in (repr(config), _access_line(config)):
        assert TOKEN not in text
    assert "/predict needs the bearer token" in _access_line(config)


def test_the_token_comes_from_the_environment_or_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    assert token_from_env({}) is None
    assert token_from_env({"LEPTON_SERVE_TOKEN": TOKEN}) == TOKEN
    assert token_from_env({"LEPTON_SERVE_TOKEN_FILE": str(secret)}) == TOKEN
    secret.write_text("")
    bad = [
        {"LEPTON_SERVE_TOKEN_FILE": str(secret)},  # empty: must not leave the API open
        {"LEPTON_SERVE_TOKEN_FILE": str(tmp_path / "absent")},
        {"LEPTON_SERVE_TOKEN": TOKEN, "LEPTON_SERVE_TOKEN_FILE": str(secret)},
    ]
    for env in bad:
        with pytest.raises(LeptonError) as caught:
            token_from_env(env)
        assert TOKEN not in str(caught.value)


def test_worker_processes_get_the_token_through_their_environment(
    config: ServeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--workers N`: uvicorn's workers rebuild the config from the environment (never argv)."""
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    monkeypatch.setenv("LEPTON_SERVE_TOKEN_FILE", str(secret))  # how the parent got it
    for key, value in config.to_env().items():
        monkeypatch.setenv(key, value)
    rebuilt = ServeConfig.from_env()
    assert (rebuilt.token, rebuilt.protect_metrics) == (TOKEN, False)


def test_a_chunked_body_is_refused_as_soon_as_it_outgrows_the_limit(tiny_model: Path) -> None:
    """No Content-Length to refuse it by: the server must stop reading at the limit, not
    buffer 50 kB (in production: 100 MB) first."""
    app = create_app(
        ServeConfig(model_dir=tiny_model, threads=1, batch_size=1, max_body_bytes=1024)
    )
    load_model(app.serve_state)
    chunks_read = 0

    async def receive() -> dict[str, Any]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b" " * 512, "more_body": chunks_read < 100}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "headers": [(b"transfer-encoding", b"chunked")],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 5555),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert chunks_read == 3  # 3 x 512 bytes > 1024: the 97 other chunks are never read
