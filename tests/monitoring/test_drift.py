"""Drift: the training reference, the PSI, the served bin counters and the PromQL that compares
them. docs/monitoring.md#drift describes the feature these tests pin down."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from lepton_ci import drift
from lepton_ci.drift import Histogram, Reference
from lepton_ci.errors import SpecError, StepError
from lepton_ci.render import monitoring
from lepton_ci.render.monitoring import psi as promql_psi
from lepton_ci.runtime import train
from lepton_ci.runtime.context import TrainContext
from lepton_ci.runtime.manifest import read_manifest, write_manifest
from lepton_ci.runtime.train import drift_section
from lepton_ci.serve.app import create_app
from lepton_ci.serve.config import ServeConfig
from lepton_ci.serve.metrics import ServeMetrics
from lepton_ci.spec import parse_spec
from tests.deploy.conftest import Project
from tests.runtime.conftest import Repo
from tests.serve.test_app import metric

PROMTOOL = shutil.which("promtool")
ENVS = "    - name: prod\n      target: docker\n"


# -- the PSI ---------------------------------------------------------------------------------


def binned_normal_psi(edges: tuple[float, ...], shift: float) -> float:
    """The exact PSI of N(shift, 1) against N(0, 1) over the same bins (no sampling)."""
    cuts = [-math.inf, *edges, math.inf]
    reference, served = NormalDist(0, 1), NormalDist(shift, 1)
    e = [reference.cdf(hi) - reference.cdf(lo) for lo, hi in pairwise(cuts)]
    a = [served.cdf(hi) - served.cdf(lo) for lo, hi in pairwise(cuts)]
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))


@pytest.mark.parametrize("shift", [0.1, 0.25, 0.5, 1.0])
def test_psi_of_a_shifted_normal_matches_the_exact_value_over_the_same_bins(shift: float) -> None:
    """Deciles of a training sample of N(0, 1); traffic from N(shift, 1). Our PSI from samples
    agrees with the integral over the same bins, and stays below the unbinned limit, the
    symmetric KL divergence of the two normals: shift² (binning loses a little)."""
    rng = np.random.default_rng(0)
    histogram = drift.quantile_histogram(rng.normal(0, 1, 200_000))
    served = histogram.counts(rng.normal(shift, 1, 200_000)) / 200_000

    ours = drift.psi(histogram.ratios, served)
    exact = binned_normal_psi(histogram.edges, shift)

    assert ours == pytest.approx(exact, rel=0.05, abs=2e-4)
    assert 0.8 * shift**2 < exact < shift**2


def test_an_empty_bin_counts_as_a_share_of_epsilon_so_the_psi_stays_finite() -> None:
    expected, actual = [0.5, 0.5, 0.0], [0.4, 0.4, 0.2]
    value = drift.psi(expected, actual)
    e3 = drift.EPSILON
    by_hand = 2 * (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.2 - e3) * math.log(0.2 / e3)
    assert math.isfinite(value) and value == pytest.approx(by_hand)
    assert drift.psi([0.25] * 4, [0.25] * 4) == 0.0


def test_reference_bins_are_the_deciles_of_the_training_sample() -> None:
    values = np.random.default_rng(1).lognormal(size=10_000)
    histogram = drift.quantile_histogram(values)
    assert len(histogram.edges) == 9 and list(histogram.edges) == sorted(histogram.edges)
    assert histogram.ratios == pytest.approx([0.1] * 10, abs=0.002)
    assert histogram.labels[-1] == "+Inf"


def test_a_feature_with_few_values_gets_fewer_bins_that_still_hold_every_row() -> None:
    rooms = np.array([2] * 30 + [3] * 50 + [4] * 20, dtype=float)
    histogram = drift.quantile_histogram(rooms)
    assert histogram.edges == (2.0, 3.0, 4.0)
    assert histogram.ratios == pytest.approx([0.3, 0.5, 0.2, 0.0])


def test_classification_predictions_are_binned_per_class() -> None:
    histogram = drift.class_histogram(np.array([0, 0, 1, 2, 2, 2]))
    assert histogram.labels == ("0", "1", "2", "other")
    assert histogram.ratios == pytest.approx([2 / 6, 1 / 6, 3 / 6, 0.0])
    assert list(histogram.counts(np.array([1.0, 2.0, 7.0]))) == [0, 1, 1, 1]


# -- the training side -----------------------------------------------------------------------


def test_the_train_step_looks_for_the_file_drift_writes() -> None:
    assert train.REFERENCE_FILE == drift.REFERENCE_FILE


def test_a_reference_sample_round_trips_through_drift_reference_npz(tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(size=(50, 3))
    path = drift.save_sample(tmp_path / drift.REFERENCE_FILE, x, ["a", "b", "c"], x[:, 0] * 2)
    loaded = drift.load_sample(path)
    assert loaded.names == ("a", "b", "c")
    assert np.array_equal(loaded.features, x)
    assert loaded.predictions is not None and np.array_equal(loaded.predictions, x[:, 0] * 2)


def test_ctx_save_reference_puts_a_drift_section_into_the_manifest(tmp_path: Path) -> None:
    import torch

    ctx = TrainContext({}, 0, "cpu", tmp_path, [], tmp_path, tmp_path / "checkpoints")
    ctx.save_reference(
        torch.randn(400, 2), ["zone", "age"], predictions=torch.randint(0, 3, (400,))
    )

    section = drift_section(tmp_path, "classification")["drift"]
    written = json.loads(json.dumps(section, sort_keys=True))  # as the manifest is written
    reference = Reference.from_manifest({"drift": written})
    assert reference is not None and reference.samples == 400
    assert list(reference.features) == ["zone", "age"]  # the column order, not sorted
    assert reference.predictions is not None and reference.predictions.classes == (0, 1, 2)
    assert drift_section(tmp_path / "checkpoints", "classification") == {}  # no file: none


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (None, "unusable: it is not an .npz"),  # some other file under that name
        ({"features": np.zeros((3, 2))}, "no names array"),
        ({"features": np.zeros((3, 2)), "names": np.array(["x"])}, "as many distinct names"),
        ({"features": np.zeros(3), "names": np.array(["x"])}, r"\[rows, features\] array"),
        ({"features": np.zeros((3, 1)), "names": ["x"], "predictions": np.zeros(2)}, "one value"),
    ],
)
def test_an_unusable_reference_file_is_an_error_naming_it(
    tmp_path: Path, arrays: dict[str, Any] | None, message: str
) -> None:
    path = tmp_path / drift.REFERENCE_FILE
    if arrays is None:
        path.write_text("features,names\n")
    else:
        np.savez(path, **arrays)
    with pytest.raises(StepError, match=message) as raised:
        drift_section(tmp_path, "regression")
    assert str(path) in str(raised.value)


FIT = """\
import os, pathlib
import numpy as np
out = pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"])
(out / "model.txt").write_text("a model")
x = np.random.default_rng(0).normal(size=(300, 2))
if os.environ.get("BROKEN"):
    (out / "drift_reference.npz").write_text("broken")
else:
    np.savez(out / "drift_reference.npz", features=x, names=np.array(["x0", "x1"]))
"""


def command_repo(tmp_path: Path) -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "lepton.yaml").write_text(
        "project: {name: Drift, model: drift}\n"
        "train: {command: python fit.py}\n"
        "evaluate: {command: 'true', task: regression}\n"
    )
    (root / "fit.py").write_text(FIT)
    return Repo(root, tmp_path / "cache", tmp_path / "registry.db")


def test_a_command_step_hands_over_its_reference_by_the_file_contract(tmp_path: Path) -> None:
    repo = command_repo(tmp_path)
    result = repo.run("train")
    manifest = read_manifest(repo.train_dir)
    assert [f["name"] for f in manifest["drift"]["features"]] == ["x0", "x1"]
    assert manifest["drift"]["samples"] == 300 and manifest["drift"]["predictions"] is None
    assert "drift reference: 300 row(s) of 2 feature(s)" in result.log


def test_a_broken_reference_file_fails_the_train_step_without_a_traceback(tmp_path: Path) -> None:
    repo = command_repo(tmp_path)
    (repo.root / "fit.py").write_text("import os\nos.environ['BROKEN'] = '1'\n" + FIT)
    result = repo.run("train", check=False)
    assert result.returncode == 1, result.log
    assert "drift_reference.npz is unusable" in result.log
    assert "Traceback" not in result.log
    assert not (repo.train_dir / "manifest.json").exists()


# -- the serving side ------------------------------------------------------------------------

REFERENCE = Reference(
    features={
        "a": Histogram((0.0, 1.0), (0.2, 0.3, 0.5)),
        "b": Histogram((0.5,), (0.5, 0.5)),
        "c": Histogram((0.0,), (0.9, 0.1)),
        "d": Histogram((0.0,), (0.1, 0.9)),
    },
    predictions=Histogram((), (0.5, 0.25, 0.25, 0.0), (0, 1, 2)),
    samples=1000,
)


def with_reference(model_dir: Path, reference: Reference | None) -> Path:
    manifest = read_manifest(model_dir)
    manifest.pop("drift", None)
    if reference is not None:
        manifest["drift"] = reference.to_manifest()
    write_manifest(model_dir, manifest)
    return model_dir


def serve(model_dir: Path) -> TestClient:
    return TestClient(create_app(ServeConfig(model_dir=model_dir, model_version="1", threads=1)))


def test_served_rows_are_counted_into_the_reference_bins(tiny_model: Path) -> None:
    """Bins are upper-edge inclusive (Prometheus' `le`): a = 0 falls into bin `0`, a = 1 into
    bin `1`, anything above the last edge into `+Inf`."""
    rows = [[-1, 0, 2, 0], [0, 0.5, 0, 1], [1, 0.7, 0, 1], [5, 0.6, 0, 1]]
    with serve(with_reference(tiny_model, REFERENCE)) as client:
        predicted = client.post("/predict", json={"inputs": rows}).json()["predictions"]
        text = client.get("/metrics").text
    assert [metric(text, "lepton_feature_bin_total", feature="a", bin=b) for b in "01"] == [2, 1]
    assert metric(text, "lepton_feature_bin_total", feature="a", bin="+Inf") == 1
    assert metric(text, "lepton_feature_bin_total", feature="b", bin="0.5") == 2
    assert metric(text, "lepton_feature_reference_ratio", feature="a", bin="+Inf") == 0.5
    classes = [metric(text, "lepton_prediction_bin_total", bin=str(c)) for c in range(3)]
    assert classes == [predicted.count(c) for c in range(3)]
    assert metric(text, "lepton_prediction_reference_ratio", bin="other") == 0.0
    assert metric(text, "lepton_drift_errors_total") == 0


def test_every_bin_has_its_series_before_any_traffic(tiny_model: Path) -> None:
    with serve(with_reference(tiny_model, REFERENCE)) as client:
        text = client.get("/metrics").text
    assert text.count("lepton_feature_bin_total{") == 3 + 2 + 2 + 2
    assert text.count("lepton_prediction_bin_total{") == 4


def test_a_model_without_a_reference_has_no_drift_series(tiny_model: Path) -> None:
    with serve(tiny_model) as client:
        assert client.post("/predict", json={"inputs": [[0, 0, 0, 0]]}).status_code == 200
        text = client.get("/metrics").text
    assert "lepton_feature_" not in text and "lepton_prediction_bin" not in text
    assert "lepton_drift_errors_total" not in text


def test_inputs_the_statistics_cannot_read_are_counted_and_still_answered(
    tiny_model: Path,
) -> None:
    """A reference of 3 features for a model of 4 inputs: the model answers, the row is not
    binned but counted in lepton_drift_errors_total."""
    three = Reference(dict(list(REFERENCE.features.items())[:3]), None, 10)
    with serve(with_reference(tiny_model, three)) as client:
        assert client.post("/predict", json={"inputs": [[0, 0, 0, 0]]}).status_code == 200
        text = client.get("/metrics").text
    assert metric(text, "lepton_drift_errors_total") == 1
    assert metric(text, "lepton_feature_bin_total", feature="a", bin="0") == 0

    metrics = ServeMetrics()
    metrics.drift.load(REFERENCE)
    metrics.drift.observe([["x", "y", "z", "w"]], [0])  # non-numeric: counted, never raised
    metrics.drift.observe([[0, 0, 0, 0]], [[0, 1]])  # two predictions for one row
    assert metric(metrics.exposition()[0].decode(), "lepton_drift_errors_total") == 2


def test_a_reload_replaces_the_old_series(tiny_model: Path) -> None:
    metrics = ServeMetrics()
    metrics.model_loaded("tiny", "1", "sha256:1", {"drift": REFERENCE.to_manifest()})
    metrics.drift.observe([[0, 0, 0, 0]], [1])
    renamed = Reference({"z": Histogram((0.0,), (0.5, 0.5))}, None, 10)
    metrics.model_loaded("tiny", "2", "sha256:2", {"drift": renamed.to_manifest()})
    text = metrics.exposition()[0].decode()
    assert 'feature="a"' not in text and "lepton_prediction_bin_total{" not in text
    assert metric(text, "lepton_feature_bin_total", feature="z", bin="0") == 0
    metrics.model_loaded("tiny", "3", "sha256:3", {})
    assert "lepton_feature_bin_total{" not in metrics.exposition()[0].decode()


# -- the rules -------------------------------------------------------------------------------


def test_the_rules_and_the_runtime_clamp_shares_alike() -> None:
    assert monitoring.PSI_EPSILON == drift.EPSILON


SPEC = "project: {name: x}\ntrain: {command: t}\nevaluate: {command: e}\n"


def test_the_drift_thresholds_come_from_the_spec() -> None:
    spec = parse_spec(
        SPEC
        + "monitoring:\n  drift: {psi_threshold: 0.2, window: 6h, for: 30m, min_samples: 2000}\n"
    )
    feature, predictions = monitoring.drift_rules(spec)
    assert feature.for_ == predictions.for_ == "30m"
    assert "[6h]" in feature.expr and " > 0.2 and on (instance, feature) " in feature.expr
    assert feature.expr.endswith(">= 2000") and "threshold 0.2" in feature.description
    defaults = parse_spec(SPEC).monitoring.drift
    assert (defaults.psi_threshold, defaults.window, defaults.for_, defaults.min_samples) == (
        0.1,
        "1h",
        "15m",
        500,
    )


def test_a_window_that_is_no_duration_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(SPEC + "monitoring:\n  drift: {window: 1 hour}\n", "lepton.yaml")
    (problem,) = raised.value.problems
    assert "monitoring.drift.window" in problem.render("lepton.yaml")
    assert "a duration such as 30s, 15m, 1h or 7d" in problem.render("lepton.yaml")


# Per minute, per feature: `x` drifts (served 10/20/30/40 % where training had 25 % each), `y`
# does not, `z` leaves its outer bins empty; the predictions favour class 0 and an unknown class.
# b:1 serves this model drifted too, but never reaches min_samples (500 rows per hour).
SERVED = {
    "a:1": {"x": [10, 20, 30, 40], "y": [25, 25, 25, 25], "z": [0, 50, 50, 0]},
    "b:1": {"x": [0, 0, 1, 3], "y": [1, 1, 1, 1], "z": [0, 2, 2, 0]},
}
PREDICTED = {"a:1": [50, 30, 20], "b:1": [3, 0, 1]}  # classes 0 and 1, then `other`
LABELS = ["1", "2", "3", "+Inf"]


def numpy_psi(increments: list[int], expected: list[float]) -> float:
    return drift.psi(expected, np.array(increments) / sum(increments))


def nano(value: float) -> float:
    """PromQL's ``round(value, 1e-9)``: the PromQL sum adds its bins in no fixed order, so the
    last bit of the PSI may differ from numpy's."""
    inverse = 1.0 / 1e-9
    return math.floor(value * inverse + 0.5) / inverse


def rule_tests(psi_expr: str, x_psi: float) -> str:
    series = []
    for instance, features in SERVED.items():
        info = f'lepton_model_info{{instance="{instance}", model="deploy-test", version="4"}}'
        series.append((info, "1x200"))
        for feature, increments in features.items():
            for label, step in zip(LABELS, increments, strict=True):
                labels = f'instance="{instance}", feature="{feature}", bin="{label}"'
                series.append((f"lepton_feature_bin_total{{{labels}}}", f"0+{step}x200"))
                series.append((f"lepton_feature_reference_ratio{{{labels}}}", "0.25x200"))
        for label, step, ratio in zip(
            ["0", "1", "other"], PREDICTED[instance], [0.5, 0.5, 0], strict=True
        ):
            labels = f'instance="{instance}", bin="{label}"'
            series.append((f"lepton_prediction_bin_total{{{labels}}}", f"0+{step}x200"))
            series.append((f"lepton_prediction_reference_ratio{{{labels}}}", f"{ratio}x200"))
    samples = [
        {
            "labels": f'{{instance="{i}", feature="{f}"}}',
            "value": nano(numpy_psi(steps, [0.25] * 4)),
        }
        for i, features in SERVED.items()
        for f, steps in features.items()
    ]
    samples[0]["value"] = nano(x_psi)  # what the caller expects of a:1's `x`
    z_psi = numpy_psi(SERVED["a:1"]["z"], [0.25] * 4)
    p_psi = numpy_psi(PREDICTED["a:1"], [0.5, 0.5, 0.0])
    description = (
        "feature {feature} on a:1 (version 4): PSI {value:.3f} against the training reference "
        "over the last 1h (threshold 0.1)."
    )

    def feature_alert(feature: str, value: float) -> dict[str, object]:
        return {
            "exp_labels": {
                "severity": "warning",
                "model": "deploy-test",
                "instance": "a:1",
                "version": "4",
                "feature": feature,
            },
            "exp_annotations": {
                "summary": f"deploy-test: feature {feature} drifted from the training data",
                "description": description.format(feature=feature, value=value),
            },
        }

    document = {
        "rule_files": ["alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "promql_expr_test": [
                    {
                        "expr": f"round({psi_expr}, 1e-9)",
                        "eval_time": "70m",
                        "exp_samples": samples,
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "LeptonModelFeatureDrift", "exp_alerts": []},
                    {
                        "eval_time": "70m",
                        "alertname": "LeptonModelFeatureDrift",
                        "exp_alerts": [feature_alert("x", x_psi), feature_alert("z", z_psi)],
                    },
                    {
                        "eval_time": "70m",
                        "alertname": "LeptonModelPredictionDrift",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "model": "deploy-test",
                                    "instance": "a:1",
                                    "version": "4",
                                },
                                "exp_annotations": {
                                    "summary": "deploy-test: the predictions drifted from the "
                                    "training data",
                                    "description": f"the predictions on a:1 (version 4): PSI "
                                    f"{p_psi:.3f} against the training reference over the "
                                    "last 1h (threshold 0.1).",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    return json.dumps(document, indent=1)


@pytest.fixture
def rules_dir(make_project: Callable[..., Project], tmp_path: Path) -> Path:
    from tests.monitoring.test_rules import outputs

    (tmp_path / "alerts.yaml").write_text(outputs(make_project(ENVS))["monitoring/alerts.yaml"])
    return tmp_path


def promtool_test(rules_dir: Path, x_psi: float) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    expr = promql_psi(
        "lepton_feature_bin_total", "lepton_feature_reference_ratio", ("instance", "feature"), "1h"
    )
    (rules_dir / "tests.yaml").write_text(rule_tests(expr, x_psi))
    return subprocess.run(
        [PROMTOOL, "test", "rules", "tests.yaml"],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus) missing")
def test_the_promql_psi_equals_the_numpy_psi_and_the_alerts_fire_on_drift(rules_dir: Path) -> None:
    """promtool's rule unit tests with synthetic counters: the PromQL PSI of every feature is
    the numpy PSI of the same counts (empty bins included); after an hour of traffic the drifted
    features `x` and `z` and the predictions alert, `y` does not, and neither does b:1 below
    min_samples. A wrong expected PSI fails the same test, showing the value PromQL computed."""
    x_psi = numpy_psi(SERVED["a:1"]["x"], [0.25] * 4)
    result = promtool_test(rules_dir, x_psi)
    assert result.returncode == 0, result.stdout + result.stderr

    wrong = promtool_test(rules_dir, x_psi + 0.001)
    assert wrong.returncode == 1
    got = re.search(r'got: \{feature="x", instance="a:1"\} (\S+),', wrong.stderr)
    assert got is not None, wrong.stdout + wrong.stderr
    assert float(got[1]) == pytest.approx(x_psi, abs=1e-9)  # 0.228217410
