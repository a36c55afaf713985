"""Push a run's metrics to a Prometheus Pushgateway (``prometheus_client``'s push API).

One fresh ``CollectorRegistry`` per push. Grouping key: ``job`` (sink setting), ``project``
(model name), ``model_version``, ``git_sha``, ``environment``; a push replaces that group.
Credentials come only from ``LEPTON_PUSHGATEWAY_USER`` / ``LEPTON_PUSHGATEWAY_PASSWORD`` and go
into the Authorization header through an auth handler, never into URLs, argv or messages.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from lepton_ci.errors import MissingDependency
from lepton_ci.metrics.collect import RunMetrics
from lepton_ci.metrics.retry import Permanent

USER_ENV = "LEPTON_PUSHGATEWAY_USER"
PASSWORD_ENV = "LEPTON_PUSHGATEWAY_PASSWORD"
STATUS = re.compile(r"error talking to pushgateway: (\d{3})")


def grouping_key(run: RunMetrics, environment: str | None) -> dict[str, str]:
    return {
        "project": run.model,
        "model_version": str(run.version) if run.version is not None else "unregistered",
        "git_sha": run.git_sha or "unknown",
        "environment": environment or "none",
    }


def build_registry(run: RunMetrics) -> Any:
    """The gauges of one push."""
    try:
        from prometheus_client import CollectorRegistry, Gauge
    except ImportError:
        raise MissingDependency("prometheus_client", "metrics") from None
    registry = CollectorRegistry()
    metric = Gauge(
        "lepton_model_metric",
        "Training and evaluation metrics of a model run.",
        ["kind", "metric"],
        registry=registry,
    )
    for kind in ("train", "evaluate"):
        for name, value in getattr(run, kind).items():
            metric.labels(kind, name).set(value)
    duration = Gauge(
        "lepton_step_duration_seconds",
        "Wall time of pipeline steps.",
        ["step"],
        registry=registry,
    )
    for name, value in run.timing.items():
        duration.labels(name.removesuffix("_seconds")).set(value)
    if run.gates:
        gate = Gauge(
            "lepton_gate_passed", "1 when the quality gate passed.", ["gate"], registry=registry
        )
        for name, ok in run.gates.items():
            gate.labels(name).set(1.0 if ok else 0.0)
    if run.passed is not None:
        Gauge(
            "lepton_evaluation_passed", "1 when all quality gates passed.", registry=registry
        ).set(1.0 if run.passed else 0.0)
    Gauge(
        "lepton_metrics_push_timestamp_seconds",
        "When lepton-ci pushed these metrics.",
        registry=registry,
    ).set(time.time())
    return registry


def auth_handler() -> Callable[..., Callable[[], None]]:
    """Basic auth from the environment when both variables are set; plain HTTP otherwise."""
    from prometheus_client.exposition import basic_auth_handler, default_handler

    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if not (user and password):
        return default_handler

    def handler(
        url: str, method: str, timeout: float | None, headers: list[Any], data: bytes
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, user, password)

    return handler


def push(url: str, job: str, run: RunMetrics, environment: str | None, timeout: float) -> None:
    """One push attempt; HTTP 4xx other than 429 is :class:`Permanent`."""
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(
            url,
            job=job,
            registry=build_registry(run),
            grouping_key=grouping_key(run, environment),
            timeout=timeout,
            handler=auth_handler(),
        )
    except OSError as exc:
        code = getattr(exc, "code", None)  # urllib's HTTPError
        match = STATUS.search(str(exc))
        status = str(code) if isinstance(code, int) else match[1] if match else ""
        if status.startswith("4") and status != "429":
            raise Permanent(f"the gateway refused the push: HTTP {status}") from exc
        raise
