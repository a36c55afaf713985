"""`lepton-ci report` writes the report directory a pipeline publishes:

    .lepton/run/report/index.html    one self-contained page (GitLab expose_as, opened offline)
    .lepton/run/report/page.html     the same page loading plots/ and report.css (Jenkins
                                     publishHTML: its CSP forbids inline images and styles)
    .lepton/run/report/plots/*.png   each plot as a file (page.html, the merge-request note)
    .lepton/run/report/summary.txt   one plain-text line (Jenkins build description)
    .lepton/run/report/metrics.txt   OpenMetrics text (GitLab artifacts:reports:metrics)

The runs below are built the way `lepton-ci train` and `lepton-ci evaluate` write them: the
metrics and per-sample results come from the runtime's own functions, the gates from
`evaluate_gates` on gate specs written as in lepton.yaml.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lepton_ci.dotenv import write_dotenv
from lepton_ci.errors import LeptonError, MissingDependency
from lepton_ci.report import build_report, write_report
from lepton_ci.runtime.gates import evaluate_gates
from lepton_ci.runtime.metrics import classification, regression
from lepton_ci.spec.model import GateSpec

CI = (-0.01, 0.03)  # the paired-bootstrap 95% interval of challenger - champion


def make_run(
    tmp_path: Path,
    task: str = "classification",
    *,
    gates: tuple[str | dict[str, Any], ...] = ("accuracy >= 0.5", "accuracy >= champion - 0.05"),
    champion: dict[str, float] | None = None,
    samples: bool = True,
    curves: bool = True,
    classes: tuple[str, ...] = ("cat", "dog", "owl"),
    size: int = 90,
    epochs: int = 4,
) -> Path:
    """A run directory with a manifest, a training log and an evaluation of ``size`` samples
    (benchmarks/report.py makes a digits-sized one)."""
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True, exist_ok=True)
    (run / "evaluate").mkdir(exist_ok=True)
    manifest = {
        "model": "digits",
        "git": {"commit": "abc123def", "branch": "main", "dirty": False},
        "data_hash": "sha256:d4t4",
        "params": {"lr": 0.003, "epochs": 3},
        "seed": 42,
        "ci_url": "https://gitlab.example/group/digits/-/pipelines/7",
    }
    (run / "train" / "manifest.json").write_text(json.dumps(manifest))
    if curves:
        lines = [
            json.dumps({"name": name, "step": epoch, "value": value})
            for epoch in range(epochs)
            for name, value in (("train_loss", 1 / (epoch + 1)), ("val_accuracy", epoch / epochs))
        ]
        (run / "train" / "train_metrics.jsonl").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(0)
    if task == "classification":
        y = rng.integers(0, len(classes), size)
        scores = rng.normal(size=(size, len(classes))) + np.eye(len(classes))[y] * 2
        metrics, results = classification(y, scores, "logits", list(classes))
    else:
        target = rng.normal(size=size)
        metrics, results = regression(target, target + rng.normal(scale=0.3, size=size))
    if samples:
        results.save(run / "evaluate" / "samples.npz")
    champion_metrics = None if champion is None else {**metrics, **champion}
    gate_results = evaluate_gates(
        [GateSpec.model_validate(g) for g in gates],
        metrics,
        champion_metrics=champion_metrics,
        champion_label="v2",
        interval=lambda metric: CI,
    )
    document = {
        "model": "digits",
        "samples": size,
        "metrics": metrics,
        "gates": [g.as_dict() for g in gate_results],
        "passed": not any(g.failed for g in gate_results),
        "champion": None if champion is None else {"name": "digits", "version": 2},
    }
    (run / "evaluate" / "metrics.json").write_text(json.dumps(document))
    return run


def decode(png: bytes) -> np.ndarray:
    """The image as grey levels; fails unless ``png`` is a PNG."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("L"), dtype=float)


def embedded(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_a_classification_run_gets_every_plot_as_a_file_and_embedded(tmp_path: Path) -> None:
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    page = write_report(run)
    report = run / "report"
    assert page == report / "index.html"
    assert sorted(p.name for p in (report / "plots").iterdir()) == [
        "champion.png",  # challenger vs champion with the bootstrap interval
        "confusion_matrix.png",
        "per_class.png",  # precision and recall per class, from evaluate's metrics
        "training_curves.png",
    ]
    files = sorted((report / "plots").glob("*.png"))
    for path in files:
        pixels = decode(path.read_bytes())
        assert pixels.var() > 10, f"{path.name} is blank"
    # the page embeds the very same images, so it needs nothing beside it
    assert sorted(embedded(page.read_text())) == sorted(p.read_bytes() for p in files)


def test_the_linked_page_loads_the_same_plots_and_a_stylesheet_from_beside_it(
    tmp_path: Path,
) -> None:
    """Jenkins serves published files with ``img-src 'self'; style-src 'self'``: no inline
    image or style would render there."""
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    write_report(run)
    report = run / "report"
    linked = (report / "page.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', linked)
    assert sorted(sources) == sorted(f"plots/{p.name}" for p in (report / "plots").iterdir())
    assert "data:" not in linked and "<style" not in linked and " style=" not in linked
    assert '<link rel="stylesheet" href="report.css">' in linked
    assert "td,th{" in (report / "report.css").read_text()
    assert "img-src &#39;self&#39;" in linked or "img-src 'self'" in linked
    index = (report / "index.html").read_text()
    for same in ('id="gates"', 'id="lineage"', 'id="summary"'):
        assert same in linked and same in index


def test_a_regression_run_gets_predicted_vs_true_and_residuals(tmp_path: Path) -> None:
    run = make_run(tmp_path, "regression", gates=("mae <= 1.0",))
    write_report(run)
    plots = sorted(p.name for p in (run / "report" / "plots").iterdir())
    assert plots == ["regression.png", "training_curves.png"]  # no champion: no comparison plot
    assert decode((run / "report" / "plots" / "regression.png").read_bytes()).var() > 10


def test_summary_of_passing_gates_names_the_headline_metric_and_the_champion(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    write_report(run)
    accuracy = json.loads((run / "evaluate" / "metrics.json").read_text())["metrics"]["accuracy"]
    assert (run / "report" / "summary.txt").read_text() == (
        f"digits: gates 2/2 passed · accuracy {accuracy:.4g} (champion v2: 0.6)\n"
    )


def test_summary_of_the_first_version_says_the_relative_gate_was_skipped(tmp_path: Path) -> None:
    run = make_run(tmp_path)  # no champion yet
    write_report(run)
    summary = (run / "report" / "summary.txt").read_text()
    assert summary.startswith("digits: gates 1/1 passed, 1 skipped · accuracy ")


def test_summary_of_failing_gates_says_which_and_by_how_much(tmp_path: Path) -> None:
    run = make_run(tmp_path, gates=("accuracy >= 0.99", "loss <= 100"))
    write_report(run)
    accuracy = json.loads((run / "evaluate" / "metrics.json").read_text())["metrics"]["accuracy"]
    assert (run / "report" / "summary.txt").read_text() == (
        f"digits: gates FAILED: accuracy {accuracy:.4g} < 0.99\n"
    )


def registered(run: Path, version: int, model: str = "digits") -> None:
    """``register/model.env`` as `lepton-ci models register` hands it on (the register job's
    artifact, unstashed by the report stage where register ran)."""
    write_dotenv(
        run / "register" / "model.env",
        {"LEPTON_MODEL_NAME": model, "LEPTON_MODEL_VERSION": str(version)},
    )


def test_a_registered_run_names_its_version_in_the_summary_and_the_lineage(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    registered(run, 3)
    write_report(run)
    summary = (run / "report" / "summary.txt").read_text()
    assert summary.startswith("digits: gates 2/2 passed · accuracy ")
    assert summary.endswith(" (champion v2: 0.6) · registered v3\n")
    for name in ("index.html", "page.html"):
        page = (run / "report" / name).read_text()
        assert "<tr><th>registered</th><td>version 3</td></tr>" in page
        assert "· registered v3</p>" in page


@pytest.mark.parametrize(
    ("gates", "model"),
    [(("accuracy >= 0.99",), "digits"), (("accuracy >= 0.5",), "fraud")],
    ids=["failed-gates", "another-model"],
)
def test_a_hand_off_that_is_not_this_runs_registration_is_not_named(
    tmp_path: Path, gates: tuple[str, ...], model: str
) -> None:
    """register refuses a gate-failed run, so a model.env beside one is an older run's."""
    run = make_run(tmp_path, gates=gates)
    registered(run, 3, model)
    page = build_report(run)
    assert "registered" not in page
    write_report(run)
    assert "registered" not in (run / "report" / "summary.txt").read_text()


def test_summary_of_a_gate_failed_on_its_bootstrap_interval_shows_the_interval(
    tmp_path: Path,
) -> None:
    # the point estimate beats the champion, but the interval's low end (-0.01) is below 0
    run = make_run(
        tmp_path,
        gates=({"metric": "accuracy", "op": ">=", "champion_delta": 0.0, "significant": True},),
        champion={"accuracy": 0.5},
    )
    write_report(run)
    summary = (run / "report" / "summary.txt").read_text()
    assert summary.startswith("digits: gates FAILED: accuracy ")
    assert "vs champion 0.5: 95% CI of the difference [-0.01, 0.03] does not clear 0" in summary


def test_summary_is_one_bounded_line_of_plain_text(tmp_path: Path) -> None:
    many = tuple(f"accuracy >= 0.99{i}" for i in range(40))
    run = make_run(tmp_path, gates=many)
    write_report(run)
    text = (run / "report" / "summary.txt").read_text()
    assert text.endswith("…\n") and text.count("\n") == 1 and len(text) <= 201


def test_metrics_txt_is_one_openmetrics_sample_per_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    write_report(run)
    lines = (run / "report" / "metrics.txt").read_text().splitlines()
    assert lines[-1] == "# EOF"
    samples = {}
    for line in lines[:-1]:
        name, value = line.split(" ")
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name), line
        samples[name] = float(value)
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())["metrics"]
    assert samples["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert samples["precision_owl"] == pytest.approx(metrics["precision/owl"], abs=1e-6)
    assert (samples["gates_passed"], samples["gates_failed"], samples["gates_skipped"]) == (2, 0, 0)
    # only the evaluation's numbers: nothing from lineage, params or the training log
    assert not {"lr", "seed", "train_loss"} & set(samples)


def test_a_run_that_was_only_trained_gets_the_parts_it_can(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "evaluate" / "metrics.json").unlink()
    (run / "evaluate" / "samples.npz").unlink()
    write_report(run)
    report = run / "report"
    assert [p.name for p in (report / "plots").iterdir()] == ["training_curves.png"]
    assert (report / "summary.txt").read_text() == "digits: not evaluated yet\n"
    assert (report / "metrics.txt").read_text() == "# EOF\n"
    assert "abc123def" in (report / "index.html").read_text()


def test_an_evaluation_without_samples_or_training_log_still_has_gates(tmp_path: Path) -> None:
    run = make_run(tmp_path, samples=False, curves=False)
    page = write_report(run).read_text()
    assert [p.name for p in (run / "report" / "plots").iterdir()] == ["per_class.png"]
    assert "accuracy &gt;= 0.5" in page and "passed" in page


def test_plots_of_an_earlier_run_are_removed(tmp_path: Path) -> None:
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    write_report(run)
    assert (run / "report" / "plots" / "champion.png").is_file()
    make_run(tmp_path)  # the next run has no champion
    write_report(run)
    assert not (run / "report" / "plots" / "champion.png").exists()


def test_the_page_shows_gates_with_thresholds_and_lineage(tmp_path: Path) -> None:
    run = make_run(tmp_path, champion={"accuracy": 0.6})
    page = build_report(run)
    gates = page[page.index('id="gates"') : page.index("</table>", page.index('id="gates"'))]
    assert "accuracy &gt;= 0.5" in gates  # absolute threshold
    assert "accuracy &gt;= champion - 0.05" in gates  # relative to the champion
    assert "[-0.01, 0.03]" in gates  # the bootstrap interval of the difference
    assert gates.count('class="passed"') == 2
    for shown in ("abc123def", "main", "sha256:d4t4", '"epochs": 3', "version 2"):
        assert shown in html.unescape(page)
    assert '<a href="https://gitlab.example/group/digits/-/pipelines/7">' in page


def test_the_page_escapes_text_and_forbids_external_loads(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        gates=({"metric": "accuracy", "op": ">=", "threshold": 0.5, "name": "<b>acc</b>"},),
    )
    document = json.loads((run / "evaluate" / "metrics.json").read_text())
    document["model"] = "m<script>"
    (run / "evaluate" / "metrics.json").write_text(json.dumps(document))
    page = build_report(run)
    assert "<script>" not in page and "&lt;b&gt;acc&lt;/b&gt;" in page
    assert "default-src 'none'; img-src data:" in page.replace("&#39;", "'")
    assert not re.search(r'<(img|script|link)[^>]+(src|href)="(?!data:)', page)


def test_write_report_to_another_file_puts_the_other_files_beside_it(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    page = write_report(run, tmp_path / "out" / "digits.html")
    assert page.is_file() and (tmp_path / "out" / "summary.txt").is_file()
    assert (tmp_path / "out" / "plots" / "training_curves.png").is_file()
    assert not (run / "report").exists()


def test_an_empty_run_dir_says_what_to_run_first(tmp_path: Path) -> None:
    with pytest.raises(LeptonError) as error:
        write_report(tmp_path)
    assert "neither train/manifest.json nor evaluate/metrics.json" in error.value.message
    assert error.value.hint == "run `lepton-ci train` and `lepton-ci evaluate` first"


def test_a_malformed_training_log_names_its_line(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with (run / "train" / "train_metrics.jsonl").open("a") as log:
        log.write('{"name": "loss", "value": "low"}\n')
    with pytest.raises(LeptonError) as error:
        write_report(run)
    assert error.value.message.startswith(
        f"{run / 'train' / 'train_metrics.jsonl'}:9: needs a number"
    )


def test_without_matplotlib_the_report_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with pytest.raises(MissingDependency) as error:
        write_report(run)
    assert error.value.hint == "pip install 'lepton-ci[report]'"
