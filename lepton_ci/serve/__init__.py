"""`lepton-ci serve`: the model's HTTP API (Starlette on uvicorn), the image's entrypoint.

Routes: ``POST /predict``, ``GET /healthz`` (process alive), ``GET /readyz`` (model loaded and
verified, not draining), ``GET /metrics`` (Prometheus). The artifact is verified against its
manifest before the server binds; a mismatch refuses to start.
"""

from lepton_ci.serve.config import ServeConfig

__all__ = ["ServeConfig"]
