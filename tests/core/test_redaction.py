"""A secret is masked in every form a server echoes it in (lepton_ci/redaction.py)."""

from __future__ import annotations

import base64
from urllib.parse import quote

from lepton_ci.redaction import redact, redact_values

TOKEN = "tok/en+with=odd&chars"


def basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_raw_url_encoded_and_basic_auth_forms_are_masked() -> None:
    echoed = (
        f"raw {TOKEN}; query ?t={quote(TOKEN, safe='')}; "
        f"header Authorization: Basic {basic('ci-bot', TOKEN)}; body {basic('ci-bot', TOKEN)}"
    )
    masked = redact_values(echoed, [TOKEN], users=["ci-bot"])
    assert TOKEN not in masked and quote(TOKEN, safe="") not in masked
    assert basic("ci-bot", TOKEN).rstrip("=") not in masked
    assert masked.count("***") == 4


def test_values_too_short_to_be_secrets_are_left_alone() -> None:
    assert redact_values("a b c", ["b"]) == "a b c"


def test_the_adapters_mask_the_basic_auth_pair_of_the_jenkins_user(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JENKINS_USER", "ci-bot")
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    pair = basic("ci-bot", TOKEN)
    masked = redact(f'{{"echo": "Authorization: Basic {pair}", "again": "{pair}"}}')
    assert pair.rstrip("=") not in masked and "Basic" in masked


def test_an_authorization_header_of_any_scheme_is_masked() -> None:
    for scheme in ("Basic", "Bearer", "Token"):
        assert redact(f"Authorization: {scheme} c2VjcmV0LXZhbHVl") == f"Authorization: {scheme} ***"
