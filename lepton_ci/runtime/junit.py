"""Gate results as JUnit XML, read the same way by Jenkins' JUnit plugin and GitLab.

One testsuite per gate group (``absolute``, ``champion``), one testcase per gate; a failing
gate carries a ``<failure>`` with value, bound and delta, a skipped one ``<skipped>``. Every
metric is a suite property, and the suites' system-out holds a readable metrics table
(GitLab shows a testcase's own system-out, so each testcase also carries its gate's line).
When no gate is configured, one skipped testcase says so: Jenkins fails a build whose report
has no test at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from lepton_ci.fsutil import atomic_write_bytes
from lepton_ci.runtime.gates import GateResult


def metrics_table(metrics: Mapping[str, float]) -> str:
    width = max((len(name) for name in metrics), default=6)
    lines = [f"{'metric'.ljust(width)}  value", f"{'-' * width}  -----"]
    lines += [f"{name.ljust(width)}  {_num(value)}" for name, value in metrics.items()]
    return "\n".join(lines)


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _case(result: GateResult, model: str, group: str) -> TestCase:
    case = TestCase(
        name=result.name,
        classname=f"{model}.gates.{group}",
        elapsed_sec=0.0,
        stdout=result.describe(),
    )
    if result.skipped:
        case.add_skipped_info(message=result.skipped)
    elif not result.passed:
        case.add_failure_info(message=result.describe(), output=result.describe())
        case.failures[-1]["type"] = "GateFailed"
    return case


def render_junit(
    model: str,
    results: Sequence[GateResult],
    metrics: Mapping[str, float],
    *,
    champion: str | None,
    timestamp: str | None = None,
) -> str:
    properties = {name: _num(value) for name, value in metrics.items()}
    properties["champion"] = champion or "none"
    table = metrics_table(metrics)
    groups = {
        "absolute": [r for r in results if not r.relative],
        "champion": [r for r in results if r.relative],
    }
    suites = []
    for group, members in groups.items():
        if not members and group == "champion":
            continue
        cases = [_case(r, model, group) for r in members]
        if not cases:
            if results:
                continue
            cases = [TestCase(name="no gates configured", classname=f"{model}.gates.absolute")]
            cases[0].add_skipped_info(message="lepton.yaml has no `gates`")
        suites.append(
            TestSuite(
                name=f"{model}.gates.{group}",
                test_cases=cases,
                properties=properties,
                timestamp=timestamp,
                stdout=table,
            )
        )
    return str(to_xml_report_string(suites, prettyprint=True, encoding="utf-8"))


def write_junit(path: Path, xml: str) -> None:
    atomic_write_bytes(path, xml.encode("utf-8"))
