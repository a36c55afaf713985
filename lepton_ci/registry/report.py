"""Plain-text views of registry contents for ``lepton-ci models`` (pure functions)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from lepton_ci.registry.base import Deployment, Event, ModelVersion, iso

HEADLINE_METRICS = ("accuracy", "macro_f1", "loss")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


def _short(digest: str | None) -> str:
    if not digest:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]


def _time(moment: object) -> str:
    return iso(moment)[:19] + "Z" if moment else "-"  # type: ignore[arg-type]


def _metric(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value) if value is not None else "-"


def versions_table(name: str, versions: Sequence[ModelVersion]) -> str:
    if not versions:
        return f"no versions of {name} registered"
    header = ["VERSION", "CREATED", "GIT", "GATES", *HEADLINE_METRICS, "IMAGE", "ALIASES"]
    rows = [
        [
            str(v.version),
            _time(v.created_at),
            (v.git_sha or "-")[:10],
            "passed" if v.gates_passed else "FAILED",
            *(_metric(v.metrics.get(m)) for m in HEADLINE_METRICS),
            _short(v.image_digest),
            ",".join(v.aliases) or "-",
        ]
        for v in versions
    ]
    return table(header, rows)


def version_details(v: ModelVersion) -> str:
    lines = [
        f"{v.name} version {v.version}",
        f"  created:   {_time(v.created_at)}",
        f"  git sha:   {v.git_sha or '-'}",
        f"  data hash: {v.data_hash or '-'}",
        f"  manifest:  {v.manifest_digest or '-'}",
        f"  image:     {v.image or '-'} {v.image_digest or ''}".rstrip(),
        f"  aliases:   {', '.join(v.aliases) or '-'}",
        f"  gates:     {'passed' if v.gates_passed else 'FAILED'}",
    ]
    for gate in v.gates:
        mark = "ok  " if gate.get("passed") else "skip" if gate.get("skipped") else "FAIL"
        label = gate.get("name") or gate.get("metric")
        lines.append(f"    {mark} {label}: value {_metric(gate.get('value'))}")
    lines.append("  metrics:")
    lines += [f"    {k}: {_metric(val)}" for k, val in sorted(v.metrics.items())]
    if v.params:
        lines.append(f"  params:    {json.dumps(dict(v.params), sort_keys=True)}")
    return "\n".join(lines)


def history_table(events: Sequence[Event]) -> str:
    if not events:
        return "no history"
    rows = []
    for e in events:
        d = dict(e.details)
        if e.kind == "alias":
            what = f"{d.get('alias')} -> {e.version}" + (
                f" (was {d['previous_version']})" if d.get("previous_version") else ""
            )
            what += " FORCED" if d.get("forced") else ""
        elif e.kind == "deployment":
            what = f"{d.get('environment')}: {d.get('outcome')}"
        elif e.kind == "image":
            what = f"{d.get('image')} {_short(d.get('digest'))}"
        elif e.kind == "metrics":
            what = f"{d.get('count')} {d.get('kind')} metrics"
        else:
            what = f"git {(d.get('git_sha') or '-')[:10]}"
        rows.append(
            [
                _time(e.at),
                e.kind,
                "-" if e.version is None else str(e.version),
                what,
                e.actor or "-",
                e.reason or "",
            ]
        )
    return table(["AT", "EVENT", "VERSION", "WHAT", "ACTOR", "REASON"], rows)


def deployments_table(rows: Sequence[Deployment]) -> str:
    if not rows:
        return "no deployments"
    return table(
        ["AT", "ENVIRONMENT", "VERSION", "OUTCOME", "IMAGE DIGEST", "ACTOR"],
        [
            [
                _time(d.at),
                d.environment,
                str(d.version),
                d.outcome,
                _short(d.image_digest),
                d.actor or "-",
            ]
            for d in rows
        ],
    )
