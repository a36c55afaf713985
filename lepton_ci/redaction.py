"""Secrets out of text, in every form a server or a library echoes them (a leaf module).

A server that echoes a request shows a token raw, URL-encoded (a query string) or inside HTTP
basic auth (``Authorization: Basic base64(user:token)``); each of these forms is masked, not only
the raw value.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words


def _b64(text: str) -> str:
    # unpadded: the padded form contains it, and so does a longer encoding that starts with it
    return base64.b64encode(text.encode()).decode().rstrip("=")


def encoded_forms(secret: str, users: Iterable[str] = ()) -> set[str]:
    """``secret`` raw, URL-encoded, base64 and as the base64 basic-auth pair of each user."""
    if len(secret) < MIN_LENGTH:
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), _b64(secret)}
    forms.update(_b64(f"{user}:{secret}") for user in users if user)
    return forms


def redact_values(text: str, secrets: Iterable[str], users: Iterable[str] = ()) -> str:
    """``text`` with every form of every secret replaced by ``***`` (longest first)."""
    names = [u for u in users if u]
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= encoded_forms(secret, names)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


SECRET_VARIABLES = ("JENKINS_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "JENKINS_PASSWORD")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_TOKEN_PARAM = re.compile(
    r"(?P<key>(?:private_token|job_token|token|access_token|password)=)[^&\s\"']+", re.IGNORECASE
)
_TOKEN_HEADER = re.compile(
    r"(?P<key>(?:PRIVATE-TOKEN|JOB-TOKEN|Authorization)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:Basic|Bearer|Token)\s+)?)[^\s\"',}]+",
    re.IGNORECASE,
)


def secret_values() -> list[str]:
    """The secret values currently in the environment (longest first, for redaction)."""
    values = {os.environ.get(name, "") for name in SECRET_VARIABLES}
    return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret (raw, URL-encoded, in basic auth), URL password, token
    parameter and Authorization header value replaced by ``***``."""
    text = redact_values(text, secret_values(), users=[os.environ.get("JENKINS_USER", "")])
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    text = _TOKEN_PARAM.sub(r"\g<key>***", text)
    return _TOKEN_HEADER.sub(r"\g<key>***", text)
