"""Prometheus metrics of one server (its own registry, so several apps can share a process).

Names (alert rules and dashboards rely on them):
  lepton_http_requests_total{route,method,status}        counter
  lepton_http_request_duration_seconds{route}            histogram
  lepton_http_requests_in_flight                         gauge
  lepton_predict_errors_total{reason}                    counter  (reason: bad_request,
                                                                   too_large, model_error,
                                                                   overloaded, unauthorized)
  lepton_predict_inputs_total                            counter  (examples predicted)
  lepton_model_info{model,version,manifest_digest}       gauge = 1
  lepton_model_created_timestamp_seconds                 gauge    (manifest created_at; staleness)
  lepton_model_loaded_timestamp_seconds                  gauge
  process_cpu_seconds_total, process_resident_memory_bytes, ...  (ProcessCollector)
  lepton_cgroup_*                                        (in a container: serve/resources.py)
  lepton_feature_bin_total, lepton_prediction_bin_total, ... (with a training reference:
                                                                   serve/drift.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServeMetrics:
    def __init__(self, cgroup_root: Path | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        from lepton_ci.serve.drift import DriftStats
        from lepton_ci.serve.resources import CGROUP_ROOT, CgroupCollector

        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        r.register(CgroupCollector(cgroup_root or CGROUP_ROOT))
        self.drift = DriftStats()
        r.register(self.drift)
        self.requests = Counter(
            "lepton_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "lepton_http_request_duration_seconds",
            "Request latency by route.",
            ["route"],
            buckets=BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "lepton_http_requests_in_flight", "Requests being served.", registry=r
        )
        self.errors = Counter(
            "lepton_predict_errors", "Failed predictions by reason.", ["reason"], registry=r
        )
        self.inputs = Counter("lepton_predict_inputs", "Examples predicted.", registry=r)
        self.batch_size = Histogram(
            "lepton_batch_size",
            "Input rows per forward pass (adaptive batching).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.queue_time = Histogram(
            "lepton_batch_queue_seconds",
            "Time a request waited for its batch's forward pass.",
            buckets=BUCKETS,
            registry=r,
        )
        self.info = Gauge(
            "lepton_model_info",
            "The model being served (value 1).",
            ["model", "version", "manifest_digest"],
            registry=r,
        )
        self.created = Gauge(
            "lepton_model_created_timestamp_seconds",
            "When the served model was trained.",
            registry=r,
        )
        self.loaded = Gauge(
            "lepton_model_loaded_timestamp_seconds",
            "When this process loaded the model.",
            registry=r,
        )
        for reason in ("bad_request", "too_large", "model_error", "overloaded", "unauthorized"):
            self.errors.labels(reason=reason)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def model_loaded(self, model: str, version: str, digest: str, manifest: dict[str, Any]) -> None:
        import contextlib
        import time
        from datetime import datetime

        from lepton_ci.drift import Reference

        self.drift.load(Reference.from_manifest(manifest))
        self.info.labels(model=model, version=version, manifest_digest=digest).set(1)
        created = manifest.get("created_at")
        if isinstance(created, str):
            with contextlib.suppress(ValueError):
                self.created.set(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
        self.loaded.set(time.time())
