"""How a target starts ``lepton-ci serve`` for one version (one place for its settings).

Versions listen on loopback only; the front is what clients reach. In containers the image's
own entrypoint runs (it knows where the artifact is) and is configured through the
environment variables ``lepton-ci serve`` reads.

A bearer token configured for the deploy (``LEPTON_SERVE_TOKEN`` or ``LEPTON_SERVE_TOKEN_FILE``,
a CI secret) protects every version it starts: a local process inherits the variables, a
container gets the token in its environment (readable only to who can inspect the engine's
containers, which is root on the host anyway), and the deploy's smoke test sends it.
"""

from __future__ import annotations

from lepton_ci.serve.auth import TOKEN_VAR, token_from_env

SERVE_HOST = "127.0.0.1"


def serve_env(port: int, version: int) -> dict[str, str]:
    """Environment of a version's container."""
    token = token_from_env()
    return {
        "LEPTON_SERVE_HOST": SERVE_HOST,
        "LEPTON_SERVE_PORT": str(port),
        "LEPTON_MODEL_VERSION": str(version),
        **({TOKEN_VAR: token} if token else {}),
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
