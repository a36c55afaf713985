"""Fixtures: a real Prometheus Pushgateway on loopback, and run directories to push from."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_ci.netutil import free_port
from tests.registry.conftest import evaluation, manifest

SPEC = """\
version: 1
project: {name: Digits CNN, model: digits-cnn}
train: {entrypoint: digits.train:train}
evaluate: {entrypoint: digits.evaluate:evaluate}
"""


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's prometheus-pushgateway on 127.0.0.1:<free port>; yields its URL."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.skip("prometheus-pushgateway is not installed (bash .ci/setup installs it)")
    port = free_port()
    log = tmp_path_factory.mktemp("pushgateway") / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"pushgateway did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples the gateway exposes on /metrics: (name, labels, value)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


@pytest.fixture
def project(tmp_path: Path):
    """Write lepton.yaml with the given sinks; returns its path."""

    def write(sinks: str = "[]") -> Path:
        path = tmp_path / "lepton.yaml"
        path.write_text(SPEC + f"metrics: {{sinks: {sinks}}}\n")
        return path

    return write


@pytest.fixture
def run_dir(tmp_path: Path):
    """A run directory: trained, evaluated (accuracy decides the gate), maybe registered."""

    def make(accuracy: float = 0.95, *, version: int | None = 1, commit: str = "abc123") -> Path:
        run = tmp_path / "run"
        (run / "train").mkdir(parents=True, exist_ok=True)
        (run / "evaluate").mkdir(exist_ok=True)
        (run / "train" / "manifest.json").write_text(json.dumps(manifest(commit=commit)))
        (run / "evaluate" / "metrics.json").write_text(json.dumps(evaluation(accuracy)))
        if version is not None:
            (run / "register").mkdir(exist_ok=True)
            (run / "register" / "model.env").write_text(
                f"LEPTON_MODEL_NAME=digits-cnn\nLEPTON_MODEL_VERSION={version}\n"
            )
        return run

    return make


@pytest.fixture
def lepton(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run `lepton-ci ARGS` in-process in tmp_path; returns (exit code, stdout, stderr)."""
    from lepton_ci.cli import main

    monkeypatch.chdir(tmp_path)
    for var in (
        "LEPTON_REGISTRY",
        "LEPTON_PUSHGATEWAY_USER",
        "LEPTON_PUSHGATEWAY_PASSWORD",
        "LEPTON_ENVIRONMENT",
    ):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
