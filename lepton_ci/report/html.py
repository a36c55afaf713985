"""The HTML report: lineage, quality gates, metrics and plots in one self-contained file.

:func:`render_html` is pure; :func:`build_report` reads a run directory and renders it. Plots are
the PNGs of :mod:`lepton_ci.report.plots` embedded as base64 ``data:`` URIs, and a CSP meta tag
forbids every external load, so the file opens offline. All text goes through Jinja's
autoescape. matplotlib is imported by the plots only, never by the generator or ``--help``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from lepton_ci.layout import PLOTS_DIR
from lepton_ci.report.plots import Plot, plots_for
from lepton_ci.report.run import RunRecord, read_run
from lepton_ci.report.summary import fmt, summary_line

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
LINKED_CSP = "default-src 'none'; img-src 'self'; style-src 'self'"
"""The linked page's policy: what Jenkins serves published files with (its default
``sandbox allow-same-origin; default-src 'none'; img-src 'self'; style-src 'self';``,
jenkins.io/doc/book/security/configuring-content-security-policy), so it renders there as here."""
STYLESHEET = "report.css"
STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.failed{color:#b00}
.passed{color:#070}.skipped{color:#777}.note{color:#555;font-size:90%}
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<title>lepton-ci report: {{ model }}</title>
{% if linked %}<link rel="stylesheet" href="{{ stylesheet }}">
{%- else %}<style>{{ style }}</style>{% endif %}
</head><body>
<h1>{{ model }}</h1>
<p id="summary">{{ summary }}</p>
{% if lineage %}<h2>Lineage</h2><table id="lineage">
{% for key, value, link in lineage %}<tr><th>{{ key }}</th><td>
{%- if link %}<a href="{{ link }}">{{ value }}</a>{% else %}{{ value }}{% endif %}</td></tr>
{% endfor %}</table>{% endif %}
{% if gates %}<h2>Quality gates</h2><table id="gates">
<tr><th>gate</th><th>rule</th><th>value</th><th>bound</th><th>champion</th>
<th>95% CI of difference</th><th>result</th></tr>
{% for g in gates %}<tr><td>{{ g.name }}</td><td>{{ g.rule }}</td><td>{{ g.value }}</td>
<td>{{ g.bound }}</td><td>{{ g.champion }}</td><td>{{ g.ci }}</td>
<td class="{{ g.css }}">{{ g.result }}{% if g.note %}<div class="note">{{ g.note }}</div>
{%- endif %}</td></tr>
{% endfor %}</table>{% endif %}
{% if metrics %}<h2>Metrics</h2><table id="metrics">
{% for key, value in metrics %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
</table>{% endif %}
{% for plot in plots %}<h2>{{ plot.title }}</h2>
<img id="plot-{{ plot.slug }}" alt="{{ plot.title }}" src="{{ plot.src }}">
{% endfor %}
</body></html>
"""


def build_report(run_dir: Path) -> str:
    """The report's HTML for ``run_dir`` (``.lepton/run``)."""
    run = read_run(run_dir)
    return render_html(run, plots_for(run))


def render_html(run: RunRecord, plots: Sequence[Plot], *, linked: bool = False) -> str:
    """The report page for ``run`` with ``plots`` embedded (no I/O); ``linked``: the page that
    loads ``plots/<slug>.png`` and :data:`STYLESHEET` from beside it (:data:`LINKED_CSP`)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        csp=LINKED_CSP if linked else CSP,
        linked=linked,
        stylesheet=STYLESHEET,
        style=markupsafe.Markup(STYLE),  # our own constant: not escaped
        model=run.model,
        summary=summary_line(run),
        lineage=lineage(run),
        gates=[_gate_row(g) for g in run.gates],
        metrics=[(k, fmt(v)) for k, v in run.metrics.items() if "/" not in k],
        plots=[{"title": p.title, "slug": p.slug, "src": _src(p, linked)} for p in plots],
    )


def _src(plot: Plot, linked: bool) -> str:
    if linked:
        return f"{PLOTS_DIR}/{plot.slug}.png"
    return "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")


def rule(gate: Mapping[str, Any]) -> str:
    """The gate as written in lepton.yaml: ``accuracy >= 0.9``, ``mae <= champion + 0.1``."""
    head = f"{gate.get('metric')} {gate.get('op')}"
    if gate.get("threshold") is not None:
        return f"{head} {fmt(gate['threshold'])}"
    delta = float(gate.get("champion_delta") or 0.0)
    tail = "" if delta == 0 else f" {'-' if delta < 0 else '+'} {fmt(abs(delta))}"
    return f"{head} champion{tail}" + (" (significant)" if gate.get("significant") else "")


def _gate_row(gate: Mapping[str, Any]) -> dict[str, str]:
    skipped, passed = gate.get("skipped"), bool(gate.get("passed"))
    has_ci = gate.get("ci_low") is not None
    return {
        "name": str(gate.get("name") or gate.get("metric")),
        "rule": rule(gate),
        "value": fmt(gate.get("value")),
        "bound": f"{gate.get('op', '')} {fmt(gate.get('bound'))}",
        "champion": fmt(gate.get("champion_value")),
        "ci": f"[{fmt(gate['ci_low'])}, {fmt(gate['ci_high'])}]" if has_ci else "-",
        "result": "skipped" if skipped else ("passed" if passed else "FAILED"),
        "css": "skipped" if skipped else ("passed" if passed else "failed"),
        "note": str(skipped or gate.get("note") or ""),
    }


def lineage(run: RunRecord) -> list[tuple[str, str, str | None]]:
    """(label, value, link) rows: where the model came from."""
    manifest = run.manifest or {}
    git = manifest.get("git")
    git = git if isinstance(git, dict) else {}
    rows: list[tuple[str, str, str | None]] = []
    if manifest:
        dirty = " (uncommitted changes)" if git.get("dirty") else ""
        rows += [
            ("git commit", fmt(git.get("commit")) + dirty, None),
            ("branch", fmt(git.get("branch")), None),
            ("data hash", fmt(manifest.get("data_hash")), None),
            ("params", json.dumps(manifest.get("params") or {}, sort_keys=True), None),
            ("seed", fmt(manifest.get("seed")), None),
            ("trained", fmt(manifest.get("created_at")), None),
        ]
        url = manifest.get("ci_url")
        link = url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
        rows.append(("CI", fmt(url), link))
    evaluation = run.evaluation or {}
    if evaluation:
        version = run.champion_version
        champion = "none" if evaluation.get("champion") is None else f"version {fmt(version)}"
        rows += [
            ("champion", champion, None),
            ("evaluated on", f"{fmt(evaluation.get('samples'))} samples", None),
        ]
    if run.registered_version is not None:
        rows.append(("registered", f"version {run.registered_version}", None))
    return rows
