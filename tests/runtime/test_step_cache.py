"""The step cache keys on what a step reads, and a miss says which input changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lepton_ci.runtime.train import TrainOptions, run_train
from lepton_ci.spec import load_spec

SPEC = """\
version: 1
project: {name: Line fit, model: line-fit}
train:
  command: python fit.py
  data: [points.npy]
  params: {degree: 1}
evaluate:
  command: python score.py
  dataset: points.npy
  task: regression
gates:
  - r2 >= 0.95
"""

FIT = """\
import json, os, pathlib
import numpy as np
x, y = np.load(os.environ["LEPTON_DATA"])
degree = json.loads(os.environ["LEPTON_PARAMS"])["degree"]
out = pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"])
(out / "line.json").write_text(json.dumps(list(np.polyfit(x, y, degree))))
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def line(tmp_path: Path) -> Path:
    """A git repository with a command-style model, committed."""
    root = tmp_path / "line"
    root.mkdir()
    x = np.linspace(0, 10, 50)
    np.save(root / "points.npy", np.stack([x, 2 * x + 1]))
    (root / "lepton.yaml").write_text(SPEC)
    (root / "fit.py").write_text(FIT)
    (root / "score.py").write_text("raise SystemExit('not used here')\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "model")
    return root


def train(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[bool, str]:
    spec_path = root / "lepton.yaml"
    options = TrainOptions(run_dir=root / ".lepton" / "run", cache_dir=root.parent / "cache")
    report = run_train(load_spec(spec_path), spec_path, options)
    captured = capsys.readouterr()
    return report.cache_hit, captured.out + captured.err


def test_a_report_written_into_the_tree_keeps_the_cache_hit(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(line, capsys)[0] is False
    (line / "reports").mkdir()
    (line / "reports" / "eval.xml").write_text("<testsuites/>")  # e.g. evaluate --junit
    (line / "notes.txt").write_text("untracked, not code")
    hit, log = train(line, capsys)
    assert hit, log


def test_a_changed_data_file_is_a_miss_that_names_it(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(line, capsys)
    np.save(line / "points.npy", np.stack([np.arange(50.0), 3 * np.arange(50.0)]))
    hit, log = train(line, capsys)
    assert not hit
    assert "data changed (points.npy)" in log
    assert "sources" in log.split("data changed")[1].split("unchanged")[0]  # sources unchanged


def test_a_changed_or_new_source_is_a_miss_that_names_it(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(line, capsys)
    (line / "fit.py").write_text(FIT + "# tuned\n")
    (line / "helpers.py").write_text("X = 1\n")  # untracked code counts
    hit, log = train(line, capsys)
    assert not hit and "sources changed (fit.py, +helpers.py)" in log
    assert "data" in log.split("sources changed")[1]  # listed among the unchanged


def test_editing_gates_or_an_excluded_file_does_not_retrain(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = line / "lepton.yaml"
    spec.write_text(SPEC.replace("train:\n", "train:\n  exclude: [docs/*]\n"))
    (line / "docs").mkdir()
    (line / "docs" / "notes.py").write_text("# untracked, excluded\n")
    train(line, capsys)
    spec.write_text(spec.read_text().replace("r2 >= 0.95", "r2 >= 0.9"))
    (line / "docs" / "notes.py").write_text("# edited\n")
    assert train(line, capsys)[0]


def test_a_changed_param_is_a_miss_that_names_it(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(line, capsys)
    (line / "lepton.yaml").write_text(SPEC.replace("degree: 1", "degree: 2"))
    hit, log = train(line, capsys)
    assert not hit and "params changed (degree: 1 -> 2)" in log


def test_another_model_trained_from_the_same_code_gets_its_own_artifact(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two models built from one tree (or the e2e copy of an example) never share a manifest."""
    train(line, capsys)
    (line / "lepton.yaml").write_text(SPEC.replace("model: line-fit", "model: line-fit-b"))
    hit, log = train(line, capsys)
    manifest = json.loads((line / ".lepton" / "run" / "train" / "manifest.json").read_text())
    assert not hit, log
    assert manifest["model"] == "line-fit-b"


SCORE = """\
import json, os, pathlib
import numpy as np
counter = pathlib.Path(os.environ["SCORE_RUNS"])
counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() else "1")
x, y = np.load(os.environ["LEPTON_DATA"])
line = json.loads((pathlib.Path(os.environ["LEPTON_MODEL_DIR"]) / "line.json").read_text())
out = pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"])
np.savez(out / "predictions.npz", y_true=y, outputs=np.polyval(line, x))
"""


def evaluate(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[bool, str]:
    from lepton_ci.runtime.evaluate import EvaluateOptions, run_evaluate

    spec_path = root / "lepton.yaml"
    options = EvaluateOptions(
        run_dir=root / ".lepton" / "run", cache_dir=root.parent / "cache", use_registry=False
    )
    report = run_evaluate(load_spec(spec_path), spec_path, options)
    captured = capsys.readouterr()
    return report.passed, captured.out + captured.err


@pytest.fixture
def scored(line: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The line model with a scorer that counts its runs in ``../score-runs``."""
    (line / "score.py").write_text(SCORE)
    git(line, "commit", "-qam", "scorer", "--author", "t <t@t>")
    monkeypatch.setenv("SCORE_RUNS", str(line.parent / "score-runs"))
    return line


def score_runs(root: Path) -> int:
    return int((root.parent / "score-runs").read_text())


def test_evaluate_with_nothing_changed_reuses_the_predictions(
    scored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(scored, capsys)
    assert evaluate(scored, capsys)[0] is True and score_runs(scored) == 1
    passed, log = evaluate(scored, capsys)
    assert passed and score_runs(scored) == 1, log
    assert "step cache hit: reused the predictions" in log


def test_a_changed_gate_takes_effect_on_cached_predictions(
    scored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(scored, capsys)
    evaluate(scored, capsys)
    spec = scored / "lepton.yaml"
    spec.write_text(spec.read_text().replace("r2 >= 0.95", "rmse <= -1"))
    from lepton_ci.errors import GateFailed

    with pytest.raises(GateFailed, match="rmse"):
        evaluate(scored, capsys)
    assert score_runs(scored) == 1  # the gates were recomputed, the model not rerun


def test_a_changed_evaluator_or_model_is_a_miss_that_names_it(
    scored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(scored, capsys)
    evaluate(scored, capsys)
    (scored / "score.py").write_text(SCORE + "# tuned\n")
    _, log = evaluate(scored, capsys)
    assert score_runs(scored) == 2 and "score.py" in log and "step cache miss" in log
    spec = scored / "lepton.yaml"
    spec.write_text(spec.read_text().replace("degree: 1", "degree: 2"))
    train(scored, capsys)
    _, log = evaluate(scored, capsys)
    assert score_runs(scored) == 3 and "model" in log.split("step cache miss")[1], log
