"""Command-style steps (any framework): a regression model trained and evaluated by commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from junitparser import JUnitXml

from lepton_ci.runtime.manifest import verify_artifacts

from .conftest import Repo

SPEC = """\
version: 1
project: {name: Line fit, model: line-fit}
train:
  command: python fit.py
  data: [points.npy]
  seed: 3
  params: {noise: 0.1}
evaluate:
  command: python score.py
  dataset: points.npy
  task: regression
gates:
  - r2 >= 0.95
  - mae <= 0.001
"""

FIT = """\
import json, os, pathlib
import numpy as np
x, y = np.load(os.environ["LEPTON_DATA"])
slope, intercept = np.polyfit(x, y, 1)
out = pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"])
(out / "line.json").write_text(json.dumps({"slope": slope, "intercept": intercept}))
"""

SCORE = """\
import json, os, pathlib, time
import numpy as np
line = json.loads((pathlib.Path(os.environ["LEPTON_MODEL_DIR"]) / "line.json").read_text())
x, y = np.load(os.environ["LEPTON_DATA"])
start = time.perf_counter()
pred = line["slope"] * x + line["intercept"]
latency = [(time.perf_counter() - start) * 1000.0]
np.savez(pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"]) / "predictions.npz",
         y_true=y, outputs=pred, latency_ms=np.array(latency))
"""


@pytest.fixture
def line_repo(repo: Repo) -> Repo:
    root = repo.root.parent / "line"
    root.mkdir()
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 200)
    np.save(root / "points.npy", np.stack([x, 2 * x + 1 + rng.normal(0, 0.1, len(x))]))
    (root / "lepton.yaml").write_text(SPEC)
    (root / "fit.py").write_text(FIT)
    (root / "score.py").write_text(SCORE)
    return Repo(root, repo.cache, repo.registry)


def test_command_steps_train_and_evaluate_a_regression_model(line_repo: Repo) -> None:
    line_repo.run("train")
    manifest = verify_artifacts(line_repo.train_dir)
    assert list(manifest["files"]) == ["line.json"] and manifest["seed"] == 3
    line = json.loads((line_repo.train_dir / "line.json").read_text())
    assert line["slope"] == pytest.approx(2.0, abs=0.02)

    result = line_repo.run("evaluate", check=False)
    assert result.returncode == 4  # the fit is good (r2) but not exact (mae <= 0.001)
    document = json.loads((line_repo.evaluate_dir / "metrics.json").read_text())
    metrics = document["metrics"]
    assert metrics["r2"] > 0.99 and 0.05 < metrics["mae"] < 0.2
    assert metrics["mse"] == pytest.approx(metrics["loss"])
    assert metrics["latency_p50_ms"] >= 0
    assert [g["passed"] for g in document["gates"]] == [True, False]
    with np.load(line_repo.evaluate_dir / "samples.npz") as samples:
        assert samples["abs_error"].mean() == pytest.approx(metrics["mae"])

    (suite,) = JUnitXml.fromfile(str(Path(line_repo.evaluate_dir / "junit.xml")))
    assert suite.name == "line-fit.gates.absolute" and (suite.tests, suite.failures) == (2, 1)
