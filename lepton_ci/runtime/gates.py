"""Quality gates: absolute thresholds and bounds relative to the champion.

A relative gate ``metric OP champion + d`` passes when ``value OP champion_value + d``. With
``significant: true`` the paired-bootstrap interval of ``value - champion_value`` must clear
``d`` entirely (the lower end for ``>``/``>=``, the upper end for ``<``/``<=``), so noise alone
cannot pass or fail it. Without a champion, relative gates are skipped, not failed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the report imports OPS without the spec's pydantic models (0.3 s)
    from lepton_ci.spec.model import GateSpec

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome; ``as_dict`` is the contract-2 form in ``metrics.json``."""

    name: str
    metric: str
    op: str
    threshold: float | None
    champion_delta: float | None
    champion_value: float | None
    bound: float | None
    value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    passed: bool
    skipped: str | None
    significant: bool = False
    note: str | None = None

    @property
    def relative(self) -> bool:
        return self.champion_delta is not None

    @property
    def failed(self) -> bool:
        return not self.passed and self.skipped is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for logs and JUnit failure messages."""
        if self.skipped:
            return f"{self.name}: skipped ({self.skipped})"
        state = "passed" if self.passed else "FAILED"
        parts = [f"{self.name}: {state}", f"value={_fmt(self.value)}", f"bound={_fmt(self.bound)}"]
        if self.relative:
            parts.append(f"champion={_fmt(self.champion_value)}")
        parts.append(f"delta={_fmt(self.delta)}")
        if self.ci_low is not None:
            parts.append(f"95% CI of difference=[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


CIFunction = Callable[[str], "tuple[float, float] | None"]


def evaluate_gates(
    gates: Sequence[GateSpec],
    metrics: Mapping[str, float],
    *,
    champion_metrics: Mapping[str, float] | None,
    champion_label: str | None = None,
    interval: CIFunction | None = None,
    missing_champion: str | None = None,
    first_version: bool = False,
) -> list[GateResult]:
    """Apply every gate; ``interval(metric)`` gives the bootstrap CI of challenger - champion.

    Without a champion a relative gate is skipped only for the first-ever version
    (``first_version``, or when nothing says otherwise); with ``missing_champion`` (why there
    is none although versions exist) it fails closed.
    """
    return [
        _apply(
            gate,
            metrics,
            champion_metrics,
            champion_label,
            interval,
            missing_champion,
            first_version,
        )
        for gate in gates
    ]


def _apply(
    gate: GateSpec,
    metrics: Mapping[str, float],
    champion: Mapping[str, float] | None,
    champion_label: str | None,
    interval: CIFunction | None,
    missing_champion: str | None = None,
    first_version: bool = False,
) -> GateResult:
    def result(
        *,
        passed: bool,
        value: float | None = None,
        bound: float | None = None,
        delta: float | None = None,
        champion_value: float | None = None,
        ci: tuple[float, float] | None = None,
        skipped: str | None = None,
        note: str | None = None,
    ) -> GateResult:
        return GateResult(
            name=gate.label,
            metric=gate.metric,
            op=gate.op,
            threshold=gate.threshold,
            champion_delta=gate.champion_delta,
            champion_value=champion_value,
            bound=bound,
            value=value,
            delta=delta,
            ci_low=ci[0] if ci else None,
            ci_high=ci[1] if ci else None,
            passed=passed,
            skipped=skipped,
            significant=gate.significant,
            note=note,
        )

    value = metrics.get(gate.metric)
    if value is None:
        known = ", ".join(sorted(metrics)) or "none"
        return result(
            passed=False, note=f"metric {gate.metric!r} was not computed (available: {known})"
        )
    compare = OPS[gate.op]
    if gate.threshold is not None:
        return result(
            passed=compare(value, gate.threshold),
            value=value,
            bound=gate.threshold,
            delta=value - gate.threshold,
        )
    if champion is None and missing_champion is not None:
        return result(passed=False, value=value, note=missing_champion)
    if champion is None:
        first = " (the first version of this model)" if first_version else ""
        return result(
            passed=True,
            value=value,
            skipped=f"no champion yet{first}: relative gates apply once a version is promoted",
        )
    champion_value = champion.get(gate.metric)
    if champion_value is None:
        who = f"champion {champion_label}" if champion_label else "the champion"
        return result(passed=True, value=value, skipped=f"{who} has no {gate.metric!r} metric")
    delta_bound = gate.champion_delta if gate.champion_delta is not None else 0.0
    ci = interval(gate.metric) if interval else None
    passed = compare(value, champion_value + delta_bound)
    note = None
    if gate.significant:
        if ci is None:
            note = "no paired bootstrap interval for this metric: judged on the point estimate"
        elif gate.op in (">=", ">"):
            passed = compare(ci[0], delta_bound)
        elif gate.op in ("<=", "<"):
            passed = compare(ci[1], delta_bound)
        else:
            passed = ci[0] <= delta_bound <= ci[1]
    return result(
        passed=passed,
        value=value,
        bound=champion_value + delta_bound,
        delta=value - champion_value,
        champion_value=champion_value,
        ci=ci,
        note=note,
    )
