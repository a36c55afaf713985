"""`lepton-ci models history --plot`: the champion's metric over the registered versions.

Three versions are registered (accuracy 0.95, 0.97, 0.96) and versions 1 then 2 promoted to
champion; the plot is a PNG of accuracy (the spec's first gate) over versions 1-3, and its path
is printed after the history.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import RunDir


def registered(lepton, make_run: RunDir) -> None:
    for number, accuracy in enumerate((0.95, 0.97, 0.96), 1):
        assert (
            lepton("models", "register", "--run-dir", str(make_run(accuracy, commit=f"c{number}")))[
                0
            ]
            == 0
        )
    for champion in ("1", "2"):
        assert lepton("models", "promote", champion, "--to", "champion")[0] == 0


def decoded(path: Path) -> np.ndarray:
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.format == "PNG"
    return np.asarray(image.convert("L"), dtype=float)


def test_history_plot_writes_the_spec_metric_over_versions_and_prints_its_path(
    lepton, make_run: RunDir, tmp_path: Path
) -> None:
    registered(lepton, make_run)
    code, out, err = lepton("models", "history", "--plot")
    assert code == 0, err
    assert "champion -> 2 (was 1)" in out  # the history table as without --plot ...
    assert (
        out.splitlines()[-1] == "plot: .lepton/run/report/history_accuracy.png"
    )  # ... then the plot
    assert decoded(tmp_path / ".lepton/run/report/history_accuracy.png").var() > 10


def test_history_plot_of_another_metric_to_a_chosen_file(
    lepton, make_run: RunDir, tmp_path: Path
) -> None:
    registered(lepton, make_run)
    code, out, err = lepton(
        "models", "history", "--plot", "--metric", "macro_f1", "-o", "f1.png", "--format", "json"
    )
    assert code == 0, err
    assert out.lstrip().startswith("[")  # stdout stays JSON; the path goes to stderr
    assert "plot: f1.png" in err
    assert decoded(tmp_path / "f1.png").var() > 10


def test_an_unknown_metric_lists_the_ones_recorded(lepton, make_run: RunDir) -> None:
    registered(lepton, make_run)
    code, _, err = lepton("models", "history", "--plot", "--metric", "f2")
    assert code == 1
    assert "no version of digits-cnn has a metric 'f2'" in err
    assert "choose one with --metric: accuracy, latency_p50_ms" in err
    assert "Traceback" not in err


def test_no_versions_says_how_to_register_one(lepton) -> None:
    code, _, err = lepton("models", "history", "--plot")
    assert code == 1 and "digits-cnn has no registered versions" in err
    assert "lepton-ci models register" in err
