"""Bearer-token access control for `lepton-ci serve` (docs/image-and-serving.md#access-control).

The token comes from ``LEPTON_SERVE_TOKEN`` or from the file ``LEPTON_SERVE_TOKEN_FILE`` names
(a mounted Kubernetes or Docker secret), never from argv. It is compared in constant time
(:func:`hmac.compare_digest`) and never logged, echoed or exported as a metric.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from lepton_ci.errors import LeptonError

TOKEN_VAR = "LEPTON_SERVE_TOKEN"
TOKEN_FILE_VAR = "LEPTON_SERVE_TOKEN_FILE"


def token_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The configured token, or None when the API is open. Both variables set, an unreadable
    or empty file: a clear error (a typo must not leave the API open)."""
    env = os.environ if env is None else env
    value, file = env.get(TOKEN_VAR) or None, env.get(TOKEN_FILE_VAR) or None
    if value and file:
        raise LeptonError(f"both {TOKEN_VAR} and {TOKEN_FILE_VAR} are set", hint="set one")
    if file is None:
        return value
    try:
        token = Path(file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise LeptonError(
            f"{TOKEN_FILE_VAR}={file}: cannot read the token file ({exc.strerror})"
        ) from None
    if not token:
        raise LeptonError(f"{TOKEN_FILE_VAR}={file}: the token file is empty")
    return token


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value carries ``Bearer <token>`` (RFC 6750 §2.1)."""
    scheme, _, credentials = (header or "").partition(" ")
    presented = credentials.strip().encode("utf-8", "surrogateescape")
    expected = token.encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented, expected)
