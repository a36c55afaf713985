"""The ASGI application: routes, validation, metrics and the model's lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import JSONResponse

from lepton_ci.serve.auth import authorized
from lepton_ci.serve.batching import Batcher, BatchPolicy, Overloaded
from lepton_ci.serve.config import ServeConfig
from lepton_ci.serve.fdlimit import QuietAcceptErrors
from lepton_ci.serve.metrics import ServeMetrics
from lepton_ci.serve.predictor import BadInput, Predict, load_predictor

log = logging.getLogger("lepton_ci.serve")

ROUTES = {"/predict", "/healthz", "/readyz", "/metrics"}
# Methods come from clients: any other one is counted as "other", so the series stay bounded.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@dataclass
class ServeState:
    """What the routes share. ``ready`` only after load + verification; False while draining."""

    config: ServeConfig
    metrics: ServeMetrics = field(default_factory=ServeMetrics)
    predict: Predict | None = None
    batcher: Batcher | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    model: str = "unknown"
    version: str = "unregistered"
    digest: str = "unknown"
    ready: bool = False
    draining: bool = False


def load_model(state: ServeState, manifest: dict[str, Any] | None = None) -> None:
    """Verify the artifact and its signature (unless the caller just did), load the predictor."""
    from lepton_ci.runtime.manifest import manifest_digest
    from lepton_ci.signing import verify_model

    config = state.config
    if manifest is None:
        manifest, note = verify_model(config.model_dir, config.signing)
        log.info("%s", note)
    state.manifest = manifest
    state.digest = manifest_digest(config.model_dir)
    state.model = str(state.manifest.get("model") or "unknown")
    state.version = config.model_version or "unregistered"
    state.predict = load_predictor(
        config.model_dir, entrypoint=config.entrypoint, threads=config.torch_threads
    )
    if note := getattr(state.predict, "note", ""):
        log.warning(note)  # a TorchScript model: still served, deprecated
    state.metrics.model_loaded(state.model, state.version, state.digest, state.manifest)
    state.ready = True
    log.info("model %s version %s (%s) ready", state.model, state.version, state.digest)


def _error(status: int, message: str) -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def create_app(config: ServeConfig, *, manifest: dict[str, Any] | None = None) -> Any:
    """The Starlette app. The model loads at startup (lifespan); pass ``manifest`` when the
    artifact was verified just before, to skip hashing it twice."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    state = ServeState(config)

    def denied(request: Request) -> bool:
        token = config.token
        return token is not None and not authorized(request.headers.get("authorization"), token)

    async def predict(request: Request) -> Response:
        if denied(request):
            state.metrics.errors.labels(reason="unauthorized").inc()
            return _unauthorized()
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > config.max_body_bytes:
            state.metrics.errors.labels(reason="too_large").inc()
            return _error(413, f"request body exceeds {config.max_body_bytes} bytes")
        if not state.ready or state.predict is None:
            return _error(503, "model not ready")
        body = await _read_body(request, config.max_body_bytes)
        if body is None:
            state.metrics.errors.labels(reason="too_large").inc()
            return _error(413, f"request body exceeds {config.max_body_bytes} bytes")
        try:
            inputs = _parse_inputs(body, config.max_batch)
        except _TooLarge as exc:
            state.metrics.errors.labels(reason="too_large").inc()
            return _error(413, str(exc))
        except BadInput as exc:
            state.metrics.errors.labels(reason="bad_request").inc()
            return _error(422 if not isinstance(exc, _NotJson) else 400, str(exc))
        try:
            if state.batcher is not None:
                result = await state.batcher.submit(inputs)
            else:
                result = await run_in_threadpool(state.predict, inputs)
        except Overloaded as exc:
            state.metrics.errors.labels(reason="overloaded").inc()
            response = _error(503, f"overloaded: {exc}; retry shortly")
            response.headers["Retry-After"] = "1"
            return response
        except BadInput as exc:
            state.metrics.errors.labels(reason="bad_request").inc()
            return _error(422, str(exc))
        except Exception as exc:
            state.metrics.errors.labels(reason="model_error").inc()
            log.exception("prediction failed")
            return _error(500, f"prediction failed: {type(exc).__name__}")
        state.metrics.inputs.inc(len(inputs))
        state.metrics.drift.observe(inputs, result.get("predictions"))
        result["model"] = state.model
        result["model_version"] = state.version
        return Response(_dumps(result), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        if state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not state.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "model": state.model,
                "model_version": state.version,
                "manifest_digest": state.digest,
            }
        )

    async def metrics(request: Request) -> Response:
        if config.protect_metrics and denied(request):
            return _unauthorized()
        data, content_type = state.metrics.exposition()
        return PlainTextResponse(data, media_type=content_type)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        asyncio.get_running_loop().set_exception_handler(QuietAcceptErrors())
        await run_in_threadpool(load_model, state, manifest)
        if state.predict is not None and config.batch_size > 1:
            policy = BatchPolicy(
                config.batch_size, config.batch_latency_ms, config.queue_timeout_ms
            )
            state.batcher = Batcher(state.predict, policy, state.metrics)
            state.batcher.start()
        yield
        state.ready = False
        if state.batcher is not None:
            await state.batcher.stop()

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.serve = state
    return _Instrumented(app, state)


def _unauthorized() -> JSONResponse:
    response = _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
    response.headers["WWW-Authenticate"] = 'Bearer realm="lepton-ci"'
    return response


async def _read_body(request: Any, limit: int) -> bytes | None:
    """The request body, read chunk by chunk; None as soon as it grows past ``limit`` bytes
    (a chunked upload has no Content-Length to refuse it by: never buffer more than that)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


class _TooLarge(BadInput):
    pass


class _NotJson(BadInput):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(f"request body holds {name}; JSON numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"number {text[:40]} is out of range; JSON numbers must be finite")
    return value


def _parse_inputs(body: bytes, max_batch: int) -> list[Any]:
    try:
        # RFC 8259 has no NaN/Infinity; Python's json accepts them, and 1e999 becomes inf
        payload = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _NotJson(f"request body is not JSON: {exc.args[0] if exc.args else exc}") from None
    except RecursionError:
        raise _NotJson("request body is nested too deeply") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise BadInput('request body must be a JSON object like {"inputs": [...]}')
    unknown = sorted(set(payload) - {"inputs"})
    if unknown:
        raise BadInput(f"unknown field(s) {', '.join(unknown)}; only `inputs` is accepted")
    inputs = payload["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise BadInput("`inputs` must be a non-empty list, one entry per example")
    if len(inputs) > max_batch:
        raise _TooLarge(f"{len(inputs)} inputs exceed max_batch {max_batch}; split the request")
    return inputs


class _Instrumented:
    """ASGI middleware: request counts, latency and in-flight gauge per known route."""

    def __init__(self, app: Any, state: ServeState) -> None:
        self.app = app
        self.state = state
        # metric children cached per label set: the hot path skips prometheus' label lookup
        self._latency: dict[str, Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}

    def _observe(self, route: str, method: str, status: int, seconds: float) -> None:
        metrics = self.state.metrics
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = metrics.latency.labels(route=route)
        latency.observe(seconds)
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = metrics.requests.labels(route=route, method=method, status=str(status))
            if len(self._requests) < 1000:  # bounded: methods/statuses come from clients
                self._requests[key] = counter
        counter.inc()

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.state.metrics
        route = scope["path"] if scope["path"] in ROUTES else "other"
        status = 500
        start = time.perf_counter()

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.in_flight.dec()
            method = scope["method"] if scope["method"] in METHODS else "other"
            self._observe(route, method, status, time.perf_counter() - start)

    @property
    def serve_state(self) -> ServeState:
        return self.state


def app_from_env() -> Any:
    """Factory for uvicorn worker processes (``workers > 1``)."""
    return create_app(ServeConfig.from_env())
