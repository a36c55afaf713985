"""The metric names ``lepton-ci serve`` exposes (see :mod:`lepton_ci.serve.metrics`), for the
alert rules and dashboard. A test checks these against a running server's ``/metrics``."""

from __future__ import annotations

REQUESTS_TOTAL = "lepton_http_requests_total"  # {route, method, status}
LATENCY = "lepton_http_request_duration_seconds"  # histogram {route}
LATENCY_BUCKET = f"{LATENCY}_bucket"
IN_FLIGHT = "lepton_http_requests_in_flight"
PREDICT_ERRORS_TOTAL = "lepton_predict_errors_total"  # {reason}
MODEL_INFO = "lepton_model_info"  # {model, version, manifest_digest} = 1
MODEL_CREATED = "lepton_model_created_timestamp_seconds"  # staleness
MODEL_LOADED = "lepton_model_loaded_timestamp_seconds"

ALL = (
    REQUESTS_TOTAL,
    LATENCY_BUCKET,
    IN_FLIGHT,
    PREDICT_ERRORS_TOTAL,
    MODEL_INFO,
    MODEL_CREATED,
    MODEL_LOADED,
)
