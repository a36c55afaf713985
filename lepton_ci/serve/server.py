"""Running the app: verify first, then uvicorn with a graceful, draining shutdown."""

from __future__ import annotations

import os
from typing import Any

from lepton_ci.console import info
from lepton_ci.errors import MissingDependency
from lepton_ci.serve.auth import TOKEN_FILE_VAR, TOKEN_VAR
from lepton_ci.serve.config import ServeConfig
from lepton_ci.serve.fdlimit import raise_soft_limit


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise MissingDependency("uvicorn", "serve") from None
    return uvicorn


def serve(config: ServeConfig) -> None:
    """Verify the artifact, then serve until SIGTERM/SIGINT.

    On a signal the server stops accepting connections, ``/readyz`` turns 503 (draining) and
    in-flight requests finish (up to ``graceful_timeout`` seconds) before the process exits.
    Raises ``TamperedArtifact`` / ``IncompleteArtifact`` before binding when the artifact does
    not match its manifest, ``SignatureRefused`` when ``config.signing`` demands a signature
    that does not verify it.
    """
    from lepton_ci.signing import verify_model

    manifest, note = verify_model(config.model_dir, config.signing)
    info(
        f"verified {len(manifest.get('files', {}))} artifact file(s) in {config.model_dir}; {note}",
        step="serve",
    )
    info(_access_line(config), step="serve")
    before, after = raise_soft_limit()
    if after != before:
        info(f"file descriptors: soft limit raised from {before} to {after}", step="serve")
    uvicorn = _uvicorn()
    from lepton_ci.serve.protocol import HeaderDeadlineProtocol

    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "access_log": config.access_log,
        "timeout_graceful_shutdown": config.graceful_timeout,
        "log_level": "info",
        "server_header": False,
        "http": HeaderDeadlineProtocol,  # idle and trickling connections are closed
    }
    if config.workers > 1:
        os.environ.update(config.to_env())
        info(
            f"serving on http://{config.host}:{config.port} with {config.workers} workers",
            step="serve",
        )
        uvicorn.run(
            "lepton_ci.serve.app:app_from_env", factory=True, workers=config.workers, **common
        )
        return

    from lepton_ci.serve.app import create_app

    app = create_app(config, manifest=manifest)
    state = app.serve_state

    class DrainingServer(uvicorn.Server):  # type: ignore[misc, name-defined]
        def handle_exit(self, sig: int, frame: Any) -> None:
            if not state.draining:
                info("signal received: draining in-flight requests", step="serve")
            state.draining = True
            super().handle_exit(sig, frame)

    info(f"serving on http://{config.host}:{config.port}", step="serve")
    DrainingServer(uvicorn.Config(app, **common)).run()


def _access_line(config: ServeConfig) -> str:
    """Who may call the API, said once at start-up (never the token itself)."""
    if not config.token:
        return (
            f"no token configured ({TOKEN_VAR} / {TOKEN_FILE_VAR}): /predict and /metrics are "
            f"open to anyone who can reach {config.host}:{config.port}"
        )
    metrics = "needs it too" if config.protect_metrics else "is open (--protect-metrics: not)"
    return f"/predict needs the bearer token; /metrics {metrics}; /healthz, /readyz are open"
