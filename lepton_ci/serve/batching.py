"""Adaptive batching: concurrent `/predict` requests share one forward pass.

One inference thread takes whatever requests are queued when it is free (up to
``max_batch_size`` rows), waiting at most ``max_latency_ms`` for more after the first. Under
light load a request runs alone with no added wait (``max_latency_ms: 0``, the default); under
load, batches grow by themselves, as with Triton's dynamic batcher and BentoML's adaptive
batching. Results are split back per request. A batch that fails is rerun request by request,
so one bad request never fails its batch-mates. A request still queued after ``queue_timeout_ms``
is answered 503 with ``Retry-After`` instead of being run late.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lepton_ci.serve.predictor import Predict


class Overloaded(Exception):
    """The request waited longer than the queue allows; answer 503 with Retry-After."""


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_size: int = 32  # rows per forward pass; 1 turns batching off
    max_latency_ms: float = 0.0  # extra wait for batch-mates after the first request
    queue_timeout_ms: float = 1000.0  # longest a request may wait for its turn


@dataclass
class _Pending:
    inputs: list[Any]
    future: asyncio.Future[dict[str, Any]]
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Coalesces requests into batches for ``predict`` (``(inputs) -> {outputs, predictions}``)."""

    def __init__(self, predict: Predict, policy: BatchPolicy, metrics: Any = None) -> None:
        self.predict = predict
        self.policy = policy
        self.metrics = metrics
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="lepton-inference")
        self._task: asyncio.Task[None] | None = None
        self._carry: _Pending | None = None  # did not fit the last batch: starts the next

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, inputs: list[Any]) -> dict[str, Any]:
        """The prediction for ``inputs``, computed in some batch."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(inputs, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            batch = self._drop_expired(batch)
            if batch:
                await self._answer(batch)

    async def _collect(self) -> list[_Pending]:
        first, self._carry = self._carry, None
        batch = [first if first is not None else await self._queue.get()]
        rows = len(batch[0].inputs)
        deadline = time.perf_counter() + self.policy.max_latency_ms / 1000
        while rows < self.policy.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                wait = deadline - time.perf_counter()
                if wait <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), wait)
                except TimeoutError:
                    break
            if rows + len(item.inputs) > self.policy.max_batch_size:
                self._carry = item
                break
            batch.append(item)
            rows += len(item.inputs)
        return batch

    def _drop_expired(self, batch: list[_Pending]) -> list[_Pending]:
        now = time.perf_counter()
        limit = self.policy.queue_timeout_ms / 1000
        alive = []
        for item in batch:
            waited = now - item.queued
            if waited > limit and not item.future.done():
                item.future.set_exception(Overloaded(f"queued {waited * 1000:.0f} ms"))
            else:
                alive.append(item)
        return alive

    async def _answer(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.batch_size.observe(sum(len(item.inputs) for item in batch))
            for item in batch:
                self.metrics.queue_time.observe(started - item.queued)
        rows = [row for item in batch for row in item.inputs]
        try:
            result = await loop.run_in_executor(self._executor, self.predict, rows)
            parts = [result] if len(batch) == 1 else _split(result, [len(i.inputs) for i in batch])
        except Exception as exc:  # rerun alone: the fault may be one request's
            if len(batch) == 1:
                _settle(batch[0].future, error=exc)
                return
            for item in batch:
                try:
                    alone = await loop.run_in_executor(self._executor, self.predict, item.inputs)
                except Exception as error:  # goes back to its own request
                    _settle(item.future, error=error)
                else:
                    _settle(item.future, result=alone)
            return
        for item, part in zip(batch, parts, strict=True):
            _settle(item.future, result=part)


def _split(result: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
    """``result``'s row-aligned lists cut back into one result per request."""
    total = sum(sizes)
    keys = [k for k, v in result.items() if isinstance(v, list) and len(v) == total]
    if "outputs" not in keys:
        raise ValueError("the predictor's outputs are not one row per input; cannot batch")
    parts: list[dict[str, Any]] = []
    start = 0
    for size in sizes:
        part = dict(result)
        for key in keys:
            part[key] = result[key][start : start + size]
        parts.append(part)
        start += size
    return parts


def _settle(
    future: asyncio.Future[dict[str, Any]],
    *,
    result: dict[str, Any] | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result or {})
