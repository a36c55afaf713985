"""The merge-request note ``gitlab report`` posts: metrics, gates, diff against the champion.

Pure: :func:`render_report` takes the evaluate step's ``metrics.json`` (contract 2) and returns
Markdown. The note starts with a hidden marker (:func:`report_marker`) by which later pushes find
and update the same note instead of adding another. :func:`render_attachments` renders what
``report --publish`` adds below it: the uploaded plots and a link to the HTML report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lepton_ci.errors import LeptonError, ServerError
from lepton_ci.render.escape import Safe, environment, md_text, render_template

_LOWER_IS_BETTER = ("loss", "latency", "size", "error")


def report_marker(model: str) -> str:
    """The hidden line that identifies this model's report note (an HTML comment)."""
    return f"<!-- lepton-ci:report model={model} -->"


def load_metrics(path: Path) -> dict[str, Any]:
    """``evaluate/metrics.json``, checked for the fields the report reads."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeptonError(
            f"{path} does not exist", hint="run `lepton-ci evaluate` first (it writes the metrics)"
        ) from None
    except json.JSONDecodeError as exc:
        raise LeptonError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise LeptonError(f"{path}: no `metrics` object; is it evaluate's metrics.json?")
    return data


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def _delta(value: Any, champion: Any, name: str) -> str:
    if not isinstance(value, int | float) or not isinstance(champion, int | float):
        return "-"
    delta = float(value) - float(champion)
    if delta == 0:
        return "±0"
    better = (delta < 0) if any(k in name for k in _LOWER_IS_BETTER) else (delta > 0)
    text = f"{delta:+.4f}" if abs(delta) < 1000 else f"{delta:+,.1f}"
    return f"{text} {'▲' if better else '▼'}"


@dataclass(frozen=True)
class Row:
    name: str
    value: str
    champion: str
    delta: str


def render_report(
    metrics: dict[str, Any],
    *,
    champion_metrics: dict[str, Any] | None = None,
    context: str = "",
    footer: str = "Posted by lepton-ci; updated in place on every push.",
    attachments: str = "",
) -> str:
    """The note's Markdown. ``champion_metrics`` (from the registry) fills the champion column;
    without it, the champion values the relative gates recorded are used. ``attachments``
    (:func:`render_attachments`, already Markdown) go before the footer."""
    model = str(metrics.get("model") or "model")
    values: dict[str, Any] = metrics["metrics"]
    gates: list[dict[str, Any]] = list(metrics.get("gates") or [])
    known = dict(champion_metrics or {})
    for gate in gates:
        if gate.get("champion_value") is not None:
            known.setdefault(str(gate.get("metric")), gate["champion_value"])
    rows = [
        Row(name, _fmt(value), _fmt(known.get(name)), _delta(value, known.get(name), name))
        for name, value in values.items()
    ]
    gate_rows = []
    for gate in gates:
        skipped = gate.get("skipped")
        passed = bool(gate.get("passed"))
        result = f"skipped: {skipped}" if skipped else ("passed" if passed else "FAILED")
        icon = "⏭️" if skipped else ("✅" if passed else "❌")
        bound = gate.get("bound", gate.get("threshold"))
        value = _fmt(gate.get("value"))
        if gate.get("ci_low") is not None and gate.get("ci_high") is not None:
            value += f" (Δ CI {_fmt(gate['ci_low'])}…{_fmt(gate['ci_high'])})"
        gate_rows.append(
            {
                "icon": icon,
                "name": str(gate.get("name") or gate.get("metric")),
                "value": value,
                "bound": f"{gate.get('op', '')} {_fmt(bound)}".strip(),
                "result": result,
            }
        )
    failed = sum(1 for g in gates if not g.get("passed") and not g.get("skipped"))
    skipped_count = sum(1 for g in gates if g.get("skipped"))
    overall = bool(metrics.get("passed", failed == 0))
    return render_template(
        "gitlab_report/note.md.j2",
        marker=report_marker(model),
        status_icon="✅" if overall else "❌",
        model=model,
        champion=metrics.get("champion"),
        context=context,
        rows=rows,
        gates=gate_rows,
        passed_count=len(gates) - failed - skipped_count,
        failed_count=failed,
        skipped_count=skipped_count,
        footer=footer,
        attachments=Safe(attachments or "\n"),
    )


# GitLab's upload answer embeds an image as ``![alt](/uploads/<secret>/<name>)``; anything else
# (nested brackets, spaces, parentheses, HTML) is not put into the note as Markdown.
_LINK_TARGET = re.compile(r"(?:https?://|/)[^()\s<>\"'\\]+")
_IMAGE_MARKDOWN = re.compile(r"!\[[^\[\]\n]*\]\(" + _LINK_TARGET.pattern + r"\)")

_ATTACHMENTS = """\
{% if plots %}

#### Plots

{% for plot in plots %}
{{ plot }}

{% endfor %}
{% else %}

{% endif %}
{% if report_url %}
[Full HTML report]({{ report_url }}) (job artifact)
{% endif %}
"""


def upload_markdown(answer: Mapping[str, Any]) -> Safe:
    """The Markdown that shows an uploaded image: GitLab's ``markdown`` when it is a plain image
    reference, else one built from its ``alt`` and ``url``."""
    given = str(answer.get("markdown") or "")
    if _IMAGE_MARKDOWN.fullmatch(given):
        return Safe(given)
    url = str(answer.get("url") or "")
    if not _LINK_TARGET.fullmatch(url):
        raise ServerError(f"GitLab's upload answer has no usable `markdown` or `url`: {given!r}")
    return Safe(f"![{md_text(answer.get('alt') or 'plot')}]({url})")


def link_target(url: str) -> Safe:
    """``url`` checked to be usable as a Markdown link target as it is."""
    if not _LINK_TARGET.fullmatch(url):
        raise LeptonError(f"{url!r} cannot be a Markdown link (spaces, parentheses or quotes)")
    return Safe(url)


def render_attachments(plots: Sequence[Safe], report_url: Safe | None = None) -> str:
    """The note's tail: a "Plots" heading with each uploaded plot, then the HTML report link."""
    if not plots and not report_url:
        return ""
    return environment().from_string(_ATTACHMENTS).render(plots=plots, report_url=report_url)
