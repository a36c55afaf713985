"""Secrets out of text, in every form a server or a library echoes them (a leaf module).

A server that echoes a request shows a token raw, URL-encoded (a query string) or inside HTTP
basic auth (``Authorization: Basic base64(user:token)``); each of these forms is masked, not only
the raw value.
"""

from __future__ import annotations

import base64
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
