"""Training curves from a command-style train step (docs/report.md, "Training metrics from a
command-style train step").

The command appends one JSON object per line to the file named by ``$LEPTON_METRICS_FILE``:
``{"name": "loss", "step": 3, "value": 0.12}``. Each metric's last value goes into the
manifest's ``train_metrics``; the whole log becomes ``train/train_metrics.jsonl``, which the
report draws as training curves. A line that is not such an object fails the train step with
``path:line`` and what was expected, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lepton_ci.errors import StepError
from lepton_ci.runtime.manifest import verify_artifacts
from lepton_ci.runtime.metric_log import MetricPoint, read_metric_log

from .conftest import Repo

SPEC = """\
version: 1
project: {name: Logger, model: logger}
train:
  command: python fit.py
  params: {epochs: 4}
evaluate:
  command: python score.py
  dataset: fit.py
  task: regression
gates:
  - mae <= 1
"""

# A training script in any framework: it appends a line per metric and epoch, in Python here;
# `echo '{"name": "loss", "step": 1, "value": 0.5}' >> "$LEPTON_METRICS_FILE"` works as well.
FIT = """\
import json, os, pathlib
epochs = json.loads(os.environ["LEPTON_PARAMS"])["epochs"]
with open(os.environ["LEPTON_METRICS_FILE"], "a") as log:
    for epoch in range(epochs):
        log.write(json.dumps({"name": "loss", "step": epoch, "value": 1 / (epoch + 1)}) + "\\n")
        log.write(json.dumps({"name": "val_mae", "step": epoch, "value": 0.5 - epoch / 10}) + "\\n")
    log.write(json.dumps({"name": "train_seconds", "value": 1.5}) + "\\n")  # no step
pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"], "model.json").write_text("{}")
"""

SAVE_ONLY = """\
import os, pathlib
pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"], "m.json").write_text("1")
"""

SCORE = """\
import os, pathlib
import numpy as np
y = np.arange(20.0)
np.savez(pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"]) / "predictions.npz",
         y_true=y, outputs=y + 0.1)
"""


@pytest.fixture
def logger(tmp_path: Path) -> Repo:
    root = tmp_path / "logger"
    root.mkdir()
    (root / "lepton.yaml").write_text(SPEC)
    (root / "fit.py").write_text(FIT)
    (root / "score.py").write_text(SCORE)
    return Repo(root, tmp_path / "cache", tmp_path / "registry.db")


def test_a_train_command_logs_curves_into_the_manifest_and_the_report(logger: Repo) -> None:
    logger.run("train")
    manifest = verify_artifacts(logger.train_dir)
    assert manifest["train_metrics"] == {"loss": 0.25, "val_mae": 0.2, "train_seconds": 1.5}
    points = read_metric_log(logger.train_dir / "train_metrics.jsonl")
    assert points[:2] == [MetricPoint("loss", 0, 1.0), MetricPoint("val_mae", 0, 0.5)]
    assert len(points) == 9

    logger.run("evaluate")
    result = logger.run("report")
    assert "report: .lepton/run/report/index.html" in result.stdout
    curves = logger.run_dir / "report" / "plots" / "training_curves.png"
    pixels = np.asarray(Image.open(curves).convert("L"), dtype=float)
    assert pixels.var() > 10


def test_a_train_command_that_logs_nothing_has_no_train_metrics(logger: Repo) -> None:
    (logger.root / "fit.py").write_text(SAVE_ONLY)
    logger.run("train")
    manifest = verify_artifacts(logger.train_dir)
    assert manifest["train_metrics"] == {} and list(manifest["files"]) == ["m.json"]


def test_a_malformed_line_fails_the_train_step_with_its_path_and_line(logger: Repo) -> None:
    (logger.root / "fit.py").write_text(
        SAVE_ONLY + "with open(os.environ['LEPTON_METRICS_FILE'], 'a') as log:\n"
        '    log.write(\'{"name": "loss", "step": 0, "value": 1.0}\\n\')\n'
        "    log.write('loss=0.5\\n')\n"
    )
    result = logger.run("train", check=False)
    assert result.returncode == 1
    assert "train_metrics.jsonl:2: not JSON" in result.stderr
    assert 'expected one JSON object {"name": str, "step": int, "value": number}' in result.stderr
    assert "Traceback" not in result.log
    assert not (logger.train_dir / "manifest.json").exists()  # no artifact from a failed step


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("loss 0.1", "not JSON (Expecting value); expected one JSON object"),
        (
            "[1, 2]",
            'expected one JSON object {"name": str, "step": int, "value": number}, got list',
        ),
        ('{"step": 1, "value": 0.1}', "needs a non-empty string 'name'"),
        ('{"name": "loss", "step": 1.5, "value": 0.1}', "needs an integer or null 'step'"),
        ('{"name": "loss", "step": 1, "value": "0.1"}', "needs a number 'value'"),
        ('{"name": "loss", "step": 1, "value": true}', "needs a number 'value'"),
    ],
)
def test_each_kind_of_bad_line_is_named(tmp_path: Path, line: str, problem: str) -> None:
    log = tmp_path / "train_metrics.jsonl"
    log.write_text('{"name": "loss", "step": 0, "value": 1}\n\n' + line + "\n")
    with pytest.raises(StepError) as error:
        read_metric_log(log)
    assert error.value.message.startswith(f"{log}:3: ")  # the blank line 2 is skipped
    assert problem in error.value.message
    assert error.value.hint == (
        'append lines like {"name": "loss", "step": 3, "value": 0.12} to $LEPTON_METRICS_FILE'
    )


def test_a_missing_log_is_no_points(tmp_path: Path) -> None:
    assert read_metric_log(tmp_path / "absent.jsonl") == []
