"""Parallel pipelines registering into one registry (SQLite file, PostgreSQL) lose nothing."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from lepton_ci.registry.sql import SqlRegistry

PROCESSES = 8
REGISTRATIONS = 25


def _register_many(
    location: str, worker: int, ready: threading.Barrier
) -> tuple[list[int], float, float]:
    versions = []
    with SqlRegistry(location) as reg:
        ready.wait(timeout=240)  # every process started and connected: all go at once
        began = time.time()
        for i in range(REGISTRATIONS):
            mv = reg.register(
                "digits-cnn",
                manifest={"model": "digits-cnn", "worker": worker, "i": i},
                metrics={"accuracy": 0.9},
                gates=[],
                git_sha=f"{worker:02d}{i:02d}",
                data_hash=None,
                params={},
                files={"samples.npz": f"{worker}-{i}".encode()},
            )
            versions.append(mv.version)
        return versions, began, time.time()


@pytest.mark.slow
def test_eight_processes_registering_25_times_get_200_distinct_versions(
    sql_location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, like separate CI jobs
    with ctx.Manager() as manager:
        ready = manager.Barrier(PROCESSES)
        with ctx.Pool(PROCESSES) as pool:
            pending = [
                pool.apply_async(_register_many, (sql_location, w, ready)) for w in range(PROCESSES)
            ]
            timed = [p.get(timeout=300) for p in pending]
    seconds = time.perf_counter() - started
    registering = max(t[2] for t in timed) - min(t[1] for t in timed)
    results = [t[0] for t in timed]
    with capsys.disabled():
        print(
            f"\n{PROCESSES} x {REGISTRATIONS} registrations: {seconds:.2f} s in all, "
            f"{registering:.2f} s registering (after all processes had connected)"
        )

    returned = [v for worker in results for v in worker]
    assert sorted(returned) == list(range(1, PROCESSES * REGISTRATIONS + 1))
    for worker in results:  # each process sees its own versions increase
        assert worker == sorted(worker)

    with SqlRegistry(sql_location) as reg:
        stored = reg.list("digits-cnn")
        assert [v.version for v in stored] == list(range(1, 201))
        assert len({v.git_sha for v in stored}) == 200
        # every version's file belongs to the registration that produced it
        for v in stored[::17]:
            worker, i = int(v.git_sha[:2]), int(v.git_sha[2:])
            assert reg.read_file("digits-cnn", v.version, "samples.npz") == f"{worker}-{i}".encode()
        assert sum(e.kind == "registered" for e in reg.history("digits-cnn")) == 200


MOVERS = 4
MOVES = 10
TARGETS = 5


def _move_alias(location: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    with SqlRegistry(location) as reg:
        for i in range(MOVES):
            target = 1 + (worker + i) % TARGETS
            reg.set_alias("digits-cnn", target, "staging", reason=f"{worker}-{i}")


@pytest.mark.slow
def test_concurrent_alias_moves_are_atomic(sql_location: str) -> None:
    """Each move reads the alias, moves it and logs it in one step: the log is one chain."""
    with SqlRegistry(sql_location) as reg:
        for i in range(TARGETS):
            reg.register(
                "digits-cnn",
                manifest={"i": i},
                metrics={},
                gates=[],
                git_sha=None,
                data_hash=None,
                params={},
            )
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(MOVERS) as pool:
            pending = [
                pool.apply_async(_move_alias, (sql_location, w, start)) for w in range(MOVERS)
            ]
            start.set()
            for p in pending:
                p.get(timeout=240)

    with SqlRegistry(sql_location) as reg:
        moves = [e for e in reg.history("digits-cnn") if e.kind == "alias"]
        assert len(moves) == MOVERS * MOVES
        previous = None
        for move in moves:  # every move saw the one logged before it, none was lost
            assert move.details["previous_version"] == previous
            previous = move.version
        staging = reg.by_alias("digits-cnn", "staging")
        assert staging is not None and staging.version == previous
