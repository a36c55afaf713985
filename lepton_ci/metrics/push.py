"""``metrics push``: send a run's metrics to every configured sink, saying what was not sent."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lepton_ci.console import info
from lepton_ci.errors import LeptonError, ServerError
from lepton_ci.metrics.collect import RunMetrics, collect
from lepton_ci.metrics.retry import with_retries
from lepton_ci.redaction import redact_values
from lepton_ci.registry.mlflow import redact_uri
from lepton_ci.spec.model import MlflowSink, PushgatewaySink, Spec

SECRET_ENV = ("LEPTON_PUSHGATEWAY_PASSWORD", "LEPTON_PUSHGATEWAY_USER")
STEP = "metrics"


@dataclass(frozen=True)
class SinkResult:
    sink: str
    sent: bool
    metrics: tuple[str, ...]
    error: str | None = None


@dataclass
class PushReport:
    run: RunMetrics
    results: list[SinkResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SinkResult]:
        return [r for r in self.results if not r.sent]

    def describe_failures(self) -> str:
        lines = []
        for r in self.failed:
            lines.append(
                f"not sent to {r.sink}: {len(r.metrics)} metrics ({', '.join(r.metrics)}): "
                f"{r.error}"
            )
        return "\n".join(lines)


def scrub(text: str) -> str:
    """Remove credential values from a message (the server or a library may echo them)."""
    values = [os.environ.get(var, "") for var in SECRET_ENV]
    return redact_values(text, values, users=[os.environ.get("LEPTON_PUSHGATEWAY_USER", "")])


def push_metrics(
    spec: Spec,
    run_dir: str | Path,
    *,
    registry_location: str | None = None,
    environment: str | None = None,
    strict: bool = False,
    retries: int = 3,
    timeout: float = 10.0,
    sleep: Callable[[float], None] | None = None,
) -> PushReport:
    """Push what the run directory has: always to the registry, then to each configured sink.

    An unreachable sink is a warning naming the sink and metrics not sent; with ``strict`` it
    raises :class:`ServerError` (exit 6) after trying every sink.
    """
    run = collect(run_dir, spec.model_name)
    report = PushReport(run)
    if run.empty:
        info(f"no metrics in {run_dir} (nothing trained or evaluated): nothing to push", step=STEP)
        return report
    names = tuple(run.names())

    def attempt(sink: str, action: Callable[[], None], *, retry: bool = True) -> None:
        try:
            if retry:
                with_retries(action, retries=retries, sleep=sleep)
            else:
                action()
        except Exception as exc:  # every sink failure is reported, never raised raw
            reason = scrub(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
            report.results.append(SinkResult(sink, False, names, reason))
            info(f"WARNING: not sent to {sink}: {', '.join(names)}: {reason}", step=STEP)
        else:
            report.results.append(SinkResult(sink, True, names))
            info(f"sent {len(names)} metrics to {sink}", step=STEP)

    def to_registry() -> None:
        from lepton_ci.registry import open_registry

        with open_registry(spec, Path("."), registry_location) as reg:
            for kind, values in run.by_kind().items():
                reg.log_metrics(spec.model_name, run.version, values, kind=kind)
            if run.gates:
                gates = {k: 1.0 if v else 0.0 for k, v in run.gates.items()}
                reg.log_metrics(spec.model_name, run.version, gates, kind="gate")

    attempt("registry", to_registry, retry=False)

    for sink in spec.metrics.sinks:
        if isinstance(sink, PushgatewaySink):
            from lepton_ci.metrics import pushgateway

            def to_gateway(sink: PushgatewaySink = sink) -> None:
                pushgateway.push(sink.url, sink.job, run, environment, timeout)

            attempt(f"pushgateway {redact_uri(sink.url)}", to_gateway)
        elif isinstance(sink, MlflowSink):
            from lepton_ci.metrics import mlflow_sink

            def to_mlflow(sink: MlflowSink = sink) -> None:
                mlflow_sink.push(sink, run, environment)

            attempt(f"mlflow {redact_uri(sink.tracking_uri)}", to_mlflow)

    if report.failed and strict:
        raise ServerError(
            "metrics push incomplete (--strict):\n" + report.describe_failures(),
            hint="the sinks above were unreachable or refused; rerun, or drop --strict to "
            "let the pipeline continue",
        )
    return report


__all__ = ["LeptonError", "PushReport", "SinkResult", "push_metrics"]
