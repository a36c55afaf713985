"""What every server adapter shares: credentials from the environment, redaction, errors.

Secrets are read from the environment only, never accepted on the command line, and every
text that may reach a user (messages, hints, the server's words) goes through :func:`redact`.
"""

from __future__ import annotations

import html
import os
import re

from lepton_ci.errors import ExitCode, LeptonError, ServerError
from lepton_ci.redaction import redact

_MAX_WORDS = 600


def server_words(body: str | bytes | None) -> str:
    """A short, redacted, one-paragraph version of what a server answered (HTML or text)."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    if "<" in text and ">" in text:
        text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", text)
        text = re.sub(r"(?s)<[^>]+>", " ", text)
        text = html.unescape(text)
    text = " ".join(text.split())
    if len(text) > _MAX_WORDS:
        text = text[: _MAX_WORDS - 1] + "…"
    return redact(text)


def require_env(name: str, purpose: str, *, alternatives: tuple[str, ...] = ()) -> str:
    """The value of ``name`` (or the first set alternative); a clear error when none is set."""
    for candidate in (name, *alternatives):
        value = os.environ.get(candidate)
        if value:
            return value
    names = " or ".join((name, *alternatives))
    raise ConfigurationMissing(
        f"{names} is not set: {purpose}",
        hint=f"export {name}=... (credentials are read from the environment only)",
    )


class ConfigurationMissing(LeptonError):
    """A server URL or credential is missing from the environment."""

    exit_code = ExitCode.USAGE


class AuthError(ServerError):
    """The server rejected the credentials (401) or the permission (403)."""


class NotFound(ServerError):
    """The job, project, build or merge request does not exist (or is invisible to the token)."""


class LintFailed(LeptonError):
    """The server's linter rejected the file."""

    exit_code = ExitCode.SPEC
