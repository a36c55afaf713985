"""`lepton-ci serve` in process: predictions, input validation, readiness and metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from starlette.testclient import TestClient

from lepton_ci.runtime.manifest import TamperedArtifact
from lepton_ci.serve.app import create_app
from lepton_ci.serve.config import ServeConfig


@pytest.fixture
def client(tiny_model: Path):
    app = create_app(ServeConfig(model_dir=tiny_model, max_batch=4, model_version="7", threads=1))
    with TestClient(app) as test_client:
        yield test_client


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0.0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_predict_returns_the_models_outputs_and_argmax_predictions(
    client: TestClient, tiny_model: Path
) -> None:
    inputs = [[0.1, 0.2, 0.3, 0.4], [1.0, -1.0, 0.5, 2.0]]
    response = client.post("/predict", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = torch.jit.load(str(tiny_model / "model.pt"))(torch.tensor(inputs)).detach()
    assert torch.allclose(torch.tensor(body["outputs"]), expected, atol=1e-6)
    assert body["predictions"] == expected.argmax(dim=1).tolist()
    assert body["model_version"] == "7"
    assert body["model"] == "tiny"


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (b"not json", 400, "not JSON"),
        (b'{"instances": [[1, 2, 3, 4]]}', 422, "inputs"),
        (b'{"inputs": []}', 422, "non-empty list"),
        (b'{"inputs": [[1, 2, 3, 4]], "extra": 1}', 422, "unknown field"),
        (b'{"inputs": [[1, 2], [1, 2, 3]]}', 422, "equally shaped"),
        (b'{"inputs": [["a", "b", "c", "d"]]}', 422, "numbers"),
        (b'{"inputs": [[1, 2, 3]]}', 422, "cannot take inputs of shape [1, 3]"),
        (
            b'{"inputs": [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]}',
            413,
            "exceed max_batch 4",
        ),
    ],
)
def test_bad_input_is_a_clear_4xx(
    client: TestClient, payload: bytes, status: int, message: str
) -> None:
    response = client.post(
        "/predict", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["manifest_digest"].startswith("sha256:")


def test_metrics_count_requests_errors_and_name_the_model(client: TestClient) -> None:
    for _ in range(3):
        client.post("/predict", json={"inputs": [[0, 0, 0, 0]]})
    client.post("/predict", json={"inputs": "nope"})
    text = client.get("/metrics").text
    ok = metric(text, "lepton_http_requests_total", route="/predict", status="200")
    bad = metric(text, "lepton_http_requests_total", route="/predict", status="422")
    assert (ok, bad) == (3, 1)
    assert metric(text, "lepton_predict_errors_total", reason="bad_request") == 1
    assert metric(text, "lepton_predict_inputs_total") == 3
    assert metric(text, "lepton_http_request_duration_seconds_count", route="/predict") == 4
    assert metric(text, "lepton_model_info", model="tiny", version="7") == 1
    assert re.search(r'lepton_model_info\{.*manifest_digest="sha256:[0-9a-f]{64}"', text)
    assert metric(text, "lepton_model_created_timestamp_seconds") > 0


def test_a_tampered_artifact_never_becomes_ready(tiny_model: Path) -> None:
    (tiny_model / "labels.json").write_text('["a", "b", "c"]')
    app = create_app(ServeConfig(model_dir=tiny_model))
    with pytest.raises(TamperedArtifact, match=r"labels\.json"), TestClient(app):
        pass


def test_custom_entrypoint_predictor(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "code"
    package.mkdir()
    (package / "my_predictor.py").write_text(
        "import json\n"
        "def load(model_dir):\n"
        "    labels = json.loads((model_dir / 'labels.json').read_text())\n"
        "    return lambda inputs: {'outputs': [len(x) for x in inputs],\n"
        "                           'predictions': [labels[len(x) % 3] for x in inputs]}\n"
    )
    monkeypatch.syspath_prepend(str(package))
    config = ServeConfig(model_dir=tiny_model, entrypoint="my_predictor:load")
    with TestClient(create_app(config)) as client:
        body = client.post("/predict", json={"inputs": ["ab", "abcd"]}).json()
    assert body["outputs"] == [2, 4]
    assert body["predictions"] == ["virginica", "versicolor"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"inputs": [[NaN, 0, 0, 0]]}', "NaN"),
        (b'{"inputs": [[Infinity, 0, 0, 0]]}', "Infinity"),
        (b'{"inputs": [[-Infinity, 0, 0, 0]]}', "-Infinity"),
        (b'{"inputs": [[1e999, 0, 0, 0]]}', "finite"),
        (b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
    ],
)
def test_non_finite_numbers_and_deep_nesting_are_counted_4xx_json_errors(
    client: TestClient, payload: bytes, message: str
) -> None:
    errors = "lepton_predict_errors_total"
    before = metric(client.get("/metrics").text, errors, reason="bad_request")
    response = client.post(
        "/predict", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert message in response.json()["error"]
    after = metric(client.get("/metrics").text, errors, reason="bad_request")
    assert after == before + 1


def test_invented_http_methods_share_one_other_label(client: TestClient) -> None:
    for n in range(200):
        client.request(f"X{n}", "/predict")
    text = client.get("/metrics").text
    methods = set(re.findall(r'lepton_http_requests_total\{[^}]*method="([^"]*)"', text))
    assert methods <= {"GET", "POST", "other"}
    assert metric(text, "lepton_http_requests_total", route="/predict", method="other") == 200


def test_a_shape_error_names_no_path_of_the_server() -> None:
    """torch's messages can carry source locations; a 422 answers the error, not the layout."""
    from lepton_ci.serve.predictor import _last_line

    message = (
        "Traceback...\nRuntimeError: shape mismatch in /app/model/code/__torch__/m.py:12 (1x3)"
    )
    assert _last_line(message) == "RuntimeError: shape mismatch in <path>:12 (1x3)"
    assert _last_line("expected 4 features, got 3 (ratio 3/4)") == (
        "expected 4 features, got 3 (ratio 3/4)"
    )
