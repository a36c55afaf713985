"""The Docker adapter: client, error translation, redaction, retries and credentials.

Every error from the engine or a registry becomes a :class:`ServerError` carrying the server's
last words, with registry credentials redacted. Credentials travel only in API calls
(``auth_config``), never in argv, logs, files or messages.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lepton_ci.console import info
from lepton_ci.errors import MissingDependency, ServerError
from lepton_ci.redaction import encoded_forms
from lepton_ci.retrying import Backoff

T = TypeVar("T")

USER_ENV = "LEPTON_REGISTRY_USER"
PASSWORD_ENV = "LEPTON_REGISTRY_PASSWORD"

TRANSIENT = re.compile(
    r"\b(500|502|503|504)\b|internal server error|bad gateway|service unavailable|"
    r"gateway time-?out|connection reset|broken pipe|\bEOF\b|i/o timeout|timed? ?out|"
    r"connection refused|too many requests|\b429\b|TLS handshake timeout",
    re.I,
)
ENGINE_RETRIED = "the Docker engine already retried"
"""A push error after the engine's own retries: the engine tries each layer upload 5 times,
5, 10, 15 and 20 s apart, saying "Retrying in N seconds" in the push stream (moby
distribution/xfer/upload.go, maxUploadAttempts; seen from Debian's docker.io 28.2). Retrying
that push again would wait 50 s a time: a registry answering 500 held a push for 207 s."""
_RETRYING = re.compile(r"Retrying in (\d+) seconds?")
PERMANENT = re.compile(
    r"unauthori[sz]ed|authentication required|denied|forbidden|\b40[134]\b|not found|"
    r"name unknown|manifest invalid|manifest unknown|blob unknown|invalid reference|"
    + ENGINE_RETRIED,
    re.I,
)


def client() -> Any:
    """A Docker client from the environment (DOCKER_HOST, ...)."""
    try:
        import docker
    except ImportError:
        raise MissingDependency("docker", "docker") from None
    try:
        cli = docker.from_env(timeout=600)
        cli.ping()
    except Exception as exc:
        raise ServerError(
            f"cannot reach the Docker engine: {_first_line(exc)}",
            hint="start it (bash .ci/services starts dockerd locally) or set DOCKER_HOST",
        ) from None
    return cli


def registry_credentials() -> dict[str, str] | None:
    """``auth_config`` from LEPTON_REGISTRY_USER / LEPTON_REGISTRY_PASSWORD, or None: the
    Docker SDK then uses the docker config (``~/.docker/config.json``, credential helpers)."""
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if user and password:
        return {"username": user, "password": password}
    return None


def secrets(auth: dict[str, str] | None) -> list[str]:
    """Every form in which the credentials could echo back in a server message."""
    auth = auth or {}
    user = auth.get("username", "")
    values = {user} if len(user) >= 4 else set()  # as before: the account is not shown either
    for secret in (auth.get("password", ""), os.environ.get(PASSWORD_ENV, "")):
        values |= encoded_forms(secret, [user])
    return sorted(values, key=len, reverse=True)


def redact(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        text = text.replace(value, "***")
    return text


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[-1][:500] if text else type(exc).__name__


def is_transient(message: str) -> bool:
    return bool(TRANSIENT.search(message)) and not PERMANENT.search(message)


def with_retries(
    action: Callable[[], T],
    *,
    what: str,
    hidden: Iterable[str] = (),
    attempts: int = 4,
    backoff: float = 1.0,
) -> T:
    """Run ``action``; retry transient failures with exponential backoff; raise ServerError."""
    hidden = list(hidden)

    def once() -> T:
        try:
            return action()
        except ServerError as exc:
            message = exc.message
        except Exception as exc:
            try:
                import docker.errors
                import requests.exceptions
            except ImportError:  # pragma: no cover
                raise
            if not isinstance(
                exc, docker.errors.DockerException | requests.exceptions.RequestException
            ):
                raise
            message = f"{what} failed: {_first_line(exc)}"
        raise ServerError(redact(message, hidden)) from None

    def retrying(exc: BaseException, delay: float, tries: int) -> None:
        info(f"{exc}; retrying in {delay:g}s (attempt {tries + 1}/{attempts})", step="image")

    def gave_up(exc: BaseException, tries: int) -> BaseException:
        if isinstance(exc, ServerError) and tries > 1:
            return ServerError(f"{exc.message} (after {tries} attempts)")
        return exc

    policy = Backoff(attempts=attempts, base_seconds=backoff, cap_seconds=math.inf)
    return policy.call(
        once,
        retry_if=lambda exc: isinstance(exc, ServerError) and is_transient(exc.message),
        give_up=gave_up,
        on_retry=retrying,
    )


def stream_push(
    cli: Any, name: str, tag: str, auth: dict[str, str] | None, hidden: list[str]
) -> dict[str, Any]:
    """One ``docker push``: the digest and what was uploaded; errors in the stream: ServerError."""
    sizes: dict[str, int] = {}
    existing: set[str] = set()
    digest = None
    last_report = time.monotonic()
    engine_retries, last_countdown = 0, None
    stream = cli.api.push(name, tag=tag, auth_config=auth, stream=True, decode=True)
    for chunk in stream:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            if engine_retries:
                detail += f" ({ENGINE_RETRIED} the upload {engine_retries + 1} times)"
            raise ServerError(redact(f"push {name}:{tag} failed: {detail}", hidden))
        layer, status = chunk.get("id"), chunk.get("status", "")
        countdown = _RETRYING.fullmatch(status)
        if countdown:  # one retry's countdown: 5, 4, ... 1 s; the next starts higher
            seconds = int(countdown.group(1))
            engine_retries += last_countdown is None or seconds > last_countdown
            last_countdown = seconds
        if layer and status == "Layer already exists":
            existing.add(layer)
        elif layer and status == "Pushing":
            current = chunk.get("progressDetail", {}).get("current")
            if current:
                sizes[layer] = max(sizes.get(layer, 0), int(current))
            if time.monotonic() - last_report > 10:
                info(f"{name}:{tag}: {sum(sizes.values())} bytes uploaded", step="image")
                last_report = time.monotonic()
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = aux["Digest"]
    if not digest:
        raise ServerError(f"push {name}:{tag} finished without a digest from the registry")
    return {
        "digest": digest,
        "bytes": sum(sizes.values()),
        "pushed": len(sizes),
        "existing": len(existing),
    }
