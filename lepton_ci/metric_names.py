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

# Process figures (prometheus_client's ProcessCollector, Linux only) and, in a container, the
# cgroup v2 ones (lepton_ci.serve.resources; absent outside a container or without a limit).
PROCESS_RSS = "process_resident_memory_bytes"
PROCESS_CPU_TOTAL = "process_cpu_seconds_total"
PROCESS_OPEN_FDS = "process_open_fds"
PROCESS_MAX_FDS = "process_max_fds"
CGROUP_MEMORY = "lepton_cgroup_memory_usage_bytes"
CGROUP_MEMORY_LIMIT = "lepton_cgroup_memory_limit_bytes"
CGROUP_CPU_TOTAL = "lepton_cgroup_cpu_usage_seconds_total"
CGROUP_CPU_LIMIT = "lepton_cgroup_cpu_limit_cores"

# Drift (lepton_ci.serve.drift): only when the manifest carries a training reference.
FEATURE_BIN_TOTAL = "lepton_feature_bin_total"  # {feature, bin}
FEATURE_REFERENCE_RATIO = "lepton_feature_reference_ratio"  # {feature, bin}
PREDICTION_BIN_TOTAL = "lepton_prediction_bin_total"  # {bin}
PREDICTION_REFERENCE_RATIO = "lepton_prediction_reference_ratio"  # {bin}
DRIFT_ERRORS_TOTAL = "lepton_drift_errors_total"

ALL = (
    REQUESTS_TOTAL,
    LATENCY_BUCKET,
    IN_FLIGHT,
    PREDICT_ERRORS_TOTAL,
    MODEL_INFO,
    MODEL_CREATED,
    MODEL_LOADED,
    PROCESS_RSS,
    PROCESS_CPU_TOTAL,
    PROCESS_OPEN_FDS,
    PROCESS_MAX_FDS,
)
CGROUP = (CGROUP_MEMORY, CGROUP_MEMORY_LIMIT, CGROUP_CPU_TOTAL, CGROUP_CPU_LIMIT)
DRIFT = (
    FEATURE_BIN_TOTAL,
    FEATURE_REFERENCE_RATIO,
    PREDICTION_BIN_TOTAL,
    PREDICTION_REFERENCE_RATIO,
    DRIFT_ERRORS_TOTAL,
)
