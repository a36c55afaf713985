"""How a target starts ``lepton-ci serve`` for one version (one place for its settings).

Versions listen on loopback only; the front is what clients reach. In containers the image's
own entrypoint runs (it knows where the artifact is) and is configured through the
environment variables ``lepton-ci serve`` reads.
"""

from __future__ import annotations

SERVE_HOST = "127.0.0.1"


def serve_env(port: int, version: int) -> dict[str, str]:
    """Environment of a version's container."""
    return {
        "LEPTON_SERVE_HOST": SERVE_HOST,
        "LEPTON_SERVE_PORT": str(port),
        "LEPTON_MODEL_VERSION": str(version),
    }


def serve_args(port: int, version: int, model_dir: str) -> list[str]:
    """Arguments after ``lepton-ci serve`` for a version run as a local process."""
    return [
        "--host",
        SERVE_HOST,
        "--port",
        str(port),
        "--model-version",
        str(version),
        "--model-dir",
        model_dir,
    ]
