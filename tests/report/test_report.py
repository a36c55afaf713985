"""`lepton-ci report`: one self-contained HTML file with decodable, non-blank plots."""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lepton_ci.report import build_report, write_report
from lepton_ci.runtime.metrics import classification, regression


def _run_dir(tmp_path: Path, task: str) -> Path:
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    (run / "evaluate").mkdir()
    lines = [
        json.dumps({"name": "train_loss", "step": e, "value": 1.0 / (e + 1)}) for e in range(4)
    ]
    (run / "train" / "train_metrics.jsonl").write_text("\n".join(lines))
    manifest = {
        "model": "m<script>",
        "git": {"sha": "abc123"},
        "data_hash": "sha256:d",
        "params": {"lr": 0.1},
        "ci_url": None,
    }
    (run / "train" / "manifest.json").write_text(json.dumps(manifest))
    rng = np.random.default_rng(0)
    if task == "classification":
        y = rng.integers(0, 3, 60)
        _, samples = classification(y, rng.normal(size=(60, 3)) + np.eye(3)[y] * 2, "logits", None)
    else:
        y = rng.normal(size=60)
        _, samples = regression(y, y + rng.normal(scale=0.3, size=60))
    samples.save(run / "evaluate" / "samples.npz")
    gate = {"name": "<b>acc</b>", "op": ">=", "bound": 0.9, "value": 0.95, "passed": True}
    (run / "evaluate" / "metrics.json").write_text(
        json.dumps({"model": "m<script>", "metrics": {}, "gates": [gate]})
    )
    return run


def _images(html: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("L") for b in found]


@pytest.mark.parametrize(("task", "plots"), [("classification", 2), ("regression", 2)])
def test_report_embeds_decodable_non_blank_plots(tmp_path: Path, task: str, plots: int) -> None:
    html = build_report(_run_dir(tmp_path, task))
    images = _images(html)
    assert len(images) == plots
    assert all(np.asarray(image, dtype=float).var() > 10 for image in images)


def test_report_escapes_text_and_forbids_external_loads(tmp_path: Path) -> None:
    html = build_report(_run_dir(tmp_path, "classification"))
    assert "<script>" not in html and "&lt;b&gt;acc&lt;/b&gt;" in html
    assert (
        "default-src 'none'" in html_lib.unescape(html)
        and "http://" not in html
        and "https://" not in html
    )
    assert "abc123" in html and "sha256:d" in html


def test_write_report_defaults_into_the_run_dir(tmp_path: Path) -> None:
    path = write_report(_run_dir(tmp_path, "regression"))
    assert path == tmp_path / "run" / "report" / "index.html" and path.stat().st_size > 1000
