"""`lepton-ci evaluate`: metrics, gates, JUnit as Jenkins and GitLab read it, champion gates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from junitparser import Failure, JUnitXml, Skipped

from .conftest import FAST, Repo, copy_example


def _suites(path: Path) -> dict[str, object]:
    xml = JUnitXml.fromfile(str(path))
    return {suite.name: suite for suite in xml}


def test_evaluation_writes_metrics_samples_and_a_junit_report(trained: Repo) -> None:
    junit = trained.evaluate_dir / "junit.xml"
    result = trained.run("evaluate", "--junit", str(junit))
    assert "3 checked" not in result.stdout and "4 checked, 1 skipped, passed" in result.stdout

    document = json.loads((trained.evaluate_dir / "metrics.json").read_text())
    metrics = document["metrics"]
    assert document["schema_version"] == 1 and document["model"] == "digits-cnn"
    assert document["samples"] == 450 and document["passed"] is True
    assert document["champion"] is None
    assert metrics["accuracy"] > 0.9 and metrics["macro_f1"] > 0.9 and metrics["loss"] > 0
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"]
    model_bytes = (trained.train_dir / "model.pt2").stat().st_size
    assert metrics["model_size_bytes"] >= model_bytes
    assert {f"precision/{d}" for d in range(10)} | {f"recall/{d}" for d in range(10)} <= set(
        metrics
    )
    with np.load(trained.evaluate_dir / "samples.npz") as samples:
        assert samples["correct"].dtype == bool and len(samples["correct"]) == 450
        assert samples["correct"].mean() == pytest.approx(metrics["accuracy"])
        assert samples["loss"].mean() == pytest.approx(metrics["loss"])

    gates = {g["name"]: g for g in document["gates"]}
    assert gates["accuracy >= 0.9"]["passed"] and gates["accuracy >= 0.9"]["threshold"] == 0.9
    relative = gates["accuracy not worse than champion (-1 pt, significant)"]
    assert relative["skipped"].startswith("no champion yet") and relative["champion_delta"] == -0.01

    # What both CI systems read: suites, testcases, outcomes, properties.
    suites = _suites(junit)
    assert set(suites) == {"digits-cnn.gates.absolute", "digits-cnn.gates.champion"}
    absolute, champion = suites["digits-cnn.gates.absolute"], suites["digits-cnn.gates.champion"]
    assert (absolute.tests, absolute.failures, absolute.errors, absolute.skipped) == (3, 0, 0, 0)
    assert (champion.tests, champion.skipped) == (1, 1)
    assert [case.name for case in absolute] == [
        "accuracy >= 0.9",
        "macro_f1 >= 0.9",
        "latency_p95_ms <= 100000",
    ]
    assert all(
        case.classname == "digits-cnn.gates.absolute" and case.is_passed for case in absolute
    )
    (skipped_case,) = list(champion)
    assert isinstance(skipped_case.result[0], Skipped)
    properties = {p.name: p.value for p in absolute.properties()}
    assert float(properties["accuracy"]) == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert properties["champion"] == "none"
    table = absolute._elem.find("system-out").text  # the readable table, per suite
    assert re.search(r"accuracy\s+0\.9", table) and "latency_p95_ms" in table
    assert "skipped (no champion yet" in skipped_case.system_out  # GitLab shows this per case


def test_a_failing_gate_exits_4_after_writing_every_report(trained: Repo) -> None:
    spec = trained.write_spec(
        "strict.yaml", lambda t: t.replace("accuracy >= 0.9\n", "accuracy >= 0.9999\n")
    )
    for name in ("metrics.json", "junit.xml", "samples.npz"):
        (trained.evaluate_dir / name).unlink(missing_ok=True)
    result = trained.run("evaluate", "--spec", spec, check=False)
    assert result.returncode == 4
    assert "1 quality gate(s) failed" in result.stderr and "accuracy >= 0.9999" in result.stderr

    document = json.loads((trained.evaluate_dir / "metrics.json").read_text())
    assert document["passed"] is False
    (failed,) = [g for g in document["gates"] if not g["passed"]]
    assert failed["value"] == document["metrics"]["accuracy"]
    assert failed["delta"] == pytest.approx(failed["value"] - 0.9999)
    assert (trained.evaluate_dir / "samples.npz").is_file()

    absolute = _suites(trained.evaluate_dir / "junit.xml")["digits-cnn.gates.absolute"]
    assert (absolute.tests, absolute.failures) == (3, 1)
    (case,) = [c for c in absolute if not c.is_passed]
    failure = case.result[0]
    assert isinstance(failure, Failure)
    assert "value=" in failure.message and "bound=0.9999" in failure.message
    assert "delta=" in failure.message

    report_only = trained.run("evaluate", "--spec", spec, "--report-only")
    assert report_only.returncode == 0 and "1 failed (--report-only)" in report_only.stdout


def test_evaluation_refuses_a_tampered_model(tmp_path: Path, trained: Repo) -> None:
    copy = tmp_path / "run"
    shutil.copytree(trained.run_dir, copy)
    model = copy / "train" / "model.pt2"
    model.write_bytes(model.read_bytes()[:-10])
    result = trained.run("evaluate", "--run-dir", str(copy), check=False)
    assert result.returncode == 1 and "model.pt2" in result.stderr and "bytes" in result.stderr


@pytest.mark.slow
def test_relative_gate_against_the_registered_champion(tmp_path: Path) -> None:
    """Champion = a version registered and promoted through the real registry commands."""
    repo = copy_example(tmp_path)
    repo.run("train", *FAST)
    repo.run("evaluate")
    repo.run("models", "register")
    repo.run("models", "promote", "--to", "champion")

    # The same model again: difference 0, interval [0, 0], the significant gate passes.
    same = repo.run("evaluate")
    document = json.loads((repo.evaluate_dir / "metrics.json").read_text())
    assert document["champion"] == {"name": "digits-cnn", "version": 1}
    (gate,) = [g for g in document["gates"] if g["champion_delta"] is not None]
    assert gate["skipped"] is None and gate["passed"] is True
    assert gate["champion_value"] == pytest.approx(document["metrics"]["accuracy"])
    assert (gate["ci_low"], gate["ci_high"]) == (0.0, 0.0)
    assert "comparing with champion digits-cnn v1" in same.log

    # A visibly weaker challenger (one epoch) fails the gate relative to the champion.
    repo.run("train", "--param", "epochs=1", "--param", "lr=0.0005")
    weak = repo.run("evaluate", check=False)
    assert weak.returncode == 4
    document = json.loads((repo.evaluate_dir / "metrics.json").read_text())
    (gate,) = [g for g in document["gates"] if g["champion_delta"] is not None]
    assert gate["passed"] is False and gate["delta"] < -0.01
    assert gate["ci_low"] < gate["delta"] < gate["ci_high"]
    champion_suite = _suites(repo.evaluate_dir / "junit.xml")["digits-cnn.gates.champion"]
    assert (champion_suite.tests, champion_suite.failures) == (1, 1)
    assert {p.name: p.value for p in champion_suite.properties()}["champion"] == "digits-cnn v1"
