"""Metrics to an MLflow tracking server: one run per push in the sink's experiment."""

from __future__ import annotations

import os
import time

from lepton_ci.errors import MissingDependency
from lepton_ci.metrics.collect import RunMetrics
from lepton_ci.registry.mlflow import metric_key
from lepton_ci.spec.model import MlflowSink


def push(sink: MlflowSink, run: RunMetrics, environment: str | None) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        from mlflow import MlflowClient
        from mlflow.entities import Metric
    except ImportError:
        raise MissingDependency("mlflow", "mlflow") from None
    client = MlflowClient(tracking_uri=sink.tracking_uri)
    title = sink.experiment or f"lepton-ci/{run.model}/metrics"
    found = client.get_experiment_by_name(title)
    exp_id = found.experiment_id if found else client.create_experiment(title)
    version = "unregistered" if run.version is None else str(run.version)
    tags = {
        "lepton.model": run.model,
        "lepton.model_version": version,
        "lepton.git_sha": run.git_sha or "unknown",
        "lepton.environment": environment or "none",
    }
    if run.passed is not None:
        tags["lepton.evaluation_passed"] = str(run.passed).lower()
    mlrun = client.create_run(exp_id, tags=tags, run_name=f"{run.model} {version} metrics")
    stamp = int(time.time() * 1000)
    batch = [
        Metric(metric_key(f"{kind}/{name}"), value, stamp, 0)
        for kind, values in run.by_kind().items()
        for name, value in values.items()
    ]
    batch += [
        Metric(metric_key(f"gate/{g}"), 1.0 if ok else 0.0, stamp, 0) for g, ok in run.gates.items()
    ]
    for start in range(0, len(batch), 500):
        client.log_batch(mlrun.info.run_id, metrics=batch[start : start + 500])
    client.set_terminated(mlrun.info.run_id)
