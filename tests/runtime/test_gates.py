"""Gates and the paired bootstrap on synthetic per-sample results (numpy only, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from lepton_ci.runtime.gates import evaluate_gates
from lepton_ci.runtime.metrics import Samples, classification, paired_bootstrap
from lepton_ci.spec.model import GateSpec


def _samples(y_true: np.ndarray, y_pred: np.ndarray) -> Samples:
    scores = np.eye(10)[y_pred] * 5.0
    return classification(y_true, scores, "logits", None)[1]


@pytest.fixture
def truth() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 10, size=2000)


def _with_accuracy(truth: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(truth)) > accuracy
    return np.where(wrong, (truth + 1) % 10, truth)


def test_bootstrap_interval_brackets_the_true_difference(truth: np.ndarray) -> None:
    champion = _samples(truth, _with_accuracy(truth, 0.90, seed=1))
    challenger = _samples(truth, _with_accuracy(truth, 0.95, seed=2))
    diff = challenger.arrays["correct"].mean() - champion.arrays["correct"].mean()
    low, high = paired_bootstrap("accuracy", challenger, champion, resamples=1000, seed=3)
    assert low < diff < high and low > 0  # a real 5-point gain is clearly significant
    assert high - low < 0.05
    f1 = paired_bootstrap("macro_f1", challenger, champion, resamples=300, seed=3)
    assert f1 is not None and f1[0] > 0


def test_bootstrap_is_seeded_and_undefined_for_different_sets(truth: np.ndarray) -> None:
    a = _samples(truth, _with_accuracy(truth, 0.9, seed=1))
    b = _samples(truth, _with_accuracy(truth, 0.9, seed=2))
    assert paired_bootstrap("accuracy", a, b, resamples=200, seed=5) == paired_bootstrap(
        "accuracy", a, b, resamples=200, seed=5
    )
    other = _samples(truth[:100], truth[:100])
    assert paired_bootstrap("accuracy", a, other, resamples=200, seed=5) is None
    assert paired_bootstrap("latency_p95_ms", a, b, resamples=200, seed=5) is None


def test_a_significant_gate_needs_the_interval_not_just_the_point(truth: np.ndarray) -> None:
    champion = _samples(truth[:300], _with_accuracy(truth[:300], 0.90, seed=1))
    challenger = _samples(truth[:300], _with_accuracy(truth[:300], 0.91, seed=7))
    value = float(challenger.arrays["correct"].mean())
    champ_value = float(champion.arrays["correct"].mean())
    assert value > champ_value  # the point estimate says "better" ...
    gates = [
        GateSpec.model_validate("accuracy > champion"),
        GateSpec.model_validate(
            {"metric": "accuracy", "op": ">", "champion_delta": 0.0, "significant": True}
        ),
    ]
    plain, significant = evaluate_gates(
        gates,
        {"accuracy": value},
        champion_metrics={"accuracy": champ_value},
        interval=lambda m: paired_bootstrap(m, challenger, champion, resamples=1000, seed=0),
    )
    assert plain.passed  # ... and the plain gate believes it,
    assert not significant.passed and significant.ci_low < 0 < significant.ci_high  # noise


def test_absolute_and_relative_gate_outcomes() -> None:
    gates = [
        GateSpec.model_validate(t)
        for t in ("accuracy >= 0.9", "loss <= 0.1", "accuracy >= champion - 0.01", "f2 >= 1")
    ]
    metrics = {"accuracy": 0.93, "loss": 0.2}
    ok, loss, rel, unknown = evaluate_gates(gates, metrics, champion_metrics=None)
    assert ok.passed and ok.delta == pytest.approx(0.03) and not ok.failed
    assert loss.failed and loss.bound == 0.1
    assert rel.skipped and not rel.failed  # no champion: skipped, never failed
    assert unknown.failed and "not computed" in (unknown.note or "")
    (rel,) = evaluate_gates(gates[2:3], metrics, champion_metrics={"accuracy": 0.95})
    assert rel.failed and rel.bound == pytest.approx(0.94) and rel.delta == pytest.approx(-0.02)


RELATIVE = GateSpec(metric="accuracy", op=">=", champion_delta=-0.01, name="vs champion")


def test_without_a_champion_only_the_first_version_skips_relative_gates() -> None:
    first = evaluate_gates([RELATIVE], {"accuracy": 0.9}, champion_metrics=None, first_version=True)
    assert first[0].passed and first[0].skipped
    assert "first version" in first[0].skipped

    closed = evaluate_gates(
        [RELATIVE],
        {"accuracy": 0.9},
        champion_metrics=None,
        missing_champion="no champion although v1 exists: promote one",
    )
    assert closed[0].failed and not closed[0].skipped
    assert "promote" in (closed[0].note or "")
