"""``lepton-ci metrics push``: training/evaluation metrics and step timings to the registry
(always), a Prometheus Pushgateway and MLflow (when configured)."""

from lepton_ci.metrics.collect import RunMetrics, collect
from lepton_ci.metrics.push import PushReport, SinkResult, push_metrics

__all__ = ["PushReport", "RunMetrics", "SinkResult", "collect", "push_metrics"]
