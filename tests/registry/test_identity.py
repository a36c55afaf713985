"""One version per artifact: reruns, retries, kills and races register nothing twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode
from lepton_ci.identity import identity_digest
from lepton_ci.registration import register_run
from lepton_ci.registry import UnservedLocation, open_registry
from lepton_ci.registry.sql import SqlRegistry
from lepton_ci.spec.loader import parse_spec

from .conftest import SPEC, RunDir, evaluation, manifest


def _rerun_with_cache_hit(run: Path) -> None:
    """What `train` writes on a step-cache hit: same files, new timings, stamps, CI URL."""
    path = run / "train" / "manifest.json"
    data = json.loads(path.read_text())
    data["durations"] = {"train_seconds": 0.0, "step_seconds": 0.31}
    data["created_at"] = "2026-02-02T10:00:00+00:00"
    data["ci_url"] = "https://gitlab.example.com/p/-/pipelines/99"
    data["cache"] = {"hit": True, "key": "key", "trained_at": "2026-01-01T00:00:00+00:00"}
    data["git"] = {**data["git"], "branch": "feature"}
    path.write_text(json.dumps(data))


def test_a_rerun_that_hit_the_step_cache_registers_no_new_version(
    tmp_path: Path, make_run: RunDir
) -> None:
    run = make_run(0.95)
    with SqlRegistry(tmp_path / "r.db") as reg:
        first = register_run(reg, run, model="digits-cnn")
        _rerun_with_cache_hit(run)
        again = register_run(reg, run, model="digits-cnn")
        assert (first.reused, again.reused) == (False, True)
        assert again.version.version == first.version.version == 1
        assert [v.version for v in reg.list("digits-cnn")] == [1]


def test_the_identity_leaves_out_timings_but_not_what_the_model_is() -> None:
    base = manifest()
    timed = base | {"durations": {"train_seconds": 99.0}, "created_at": "2030-01-01"}
    assert identity_digest(timed) == identity_digest(base)
    for changed in (
        base | {"files": {"model.pt": {"sha256": "ef" * 32, "size": 1234}}},
        base | {"params": {"epochs": 4, "lr": 0.01}},
        base | {"data_hash": "sha256:" + "00" * 32},
    ):
        assert identity_digest(changed) != identity_digest(base)


def test_an_artifact_registered_before_another_one_keeps_its_version(
    tmp_path: Path, make_run: RunDir
) -> None:
    a, b = make_run(0.95, commit="aaaa"), make_run(0.96, commit="bbbb")
    with SqlRegistry(tmp_path / "r.db") as reg:
        assert register_run(reg, a, model="digits-cnn").version.version == 1
        assert register_run(reg, b, model="digits-cnn").version.version == 2
        again = register_run(reg, a, model="digits-cnn")  # A's pipeline retried late
        assert again.reused and again.version.version == 1
        assert len(reg.list("digits-cnn")) == 2
        assert sum(e.kind == "registered" for e in reg.history("digits-cnn")) == 2


def test_the_database_itself_refuses_a_second_row_for_one_artifact(tmp_path: Path) -> None:
    with SqlRegistry(tmp_path / "r.db") as reg:
        ev = evaluation(0.95)
        reg.register(
            "m",
            manifest=manifest(),
            metrics=ev["metrics"],
            gates=ev["gates"],
            git_sha=None,
            data_hash=None,
            params={},
        )
    db = sqlite3.connect(tmp_path / "r.db")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        db.execute(
            "INSERT INTO versions (name, version, created_at, params, manifest, manifest_digest,"
            " artifact_digest, metrics, gates) SELECT name, 2, created_at, params, manifest,"
            " manifest_digest, artifact_digest, metrics, gates FROM versions"
        )


def test_registering_one_artifact_twice_on_mlflow_gives_one_version(
    mlflow_uri: str, name: str
) -> None:
    spec = parse_spec(
        SPEC + f"registry: {{backend: mlflow, tracking_uri: '{mlflow_uri}'}}\n", "lepton.yaml"
    )
    ev = evaluation(0.95)
    args = dict(metrics=ev["metrics"], gates=ev["gates"], git_sha=None, data_hash=None, params={})
    with open_registry(spec) as reg:
        first, created = reg.register_artifact(name, manifest=manifest("a"), **args)
        reg.register_artifact(name, manifest=manifest("b"), **args)
        again, created_again = reg.register_artifact(
            name, manifest=manifest("a") | {"durations": {"x": 1.0}}, **args
        )
        assert (created, created_again) == (True, False)
        assert again.version == first.version
        assert [v.version for v in reg.list(name)] == [1, 2]


# -- processes: races and kill -9 -------------------------------------------------------------

ARTIFACTS = 5
WORKERS = 6


def _register_all(
    location: str, worker: int, start: multiprocessing.synchronize.Event
) -> list[int]:
    start.wait()
    order = list(range(ARTIFACTS))
    order = order[worker % ARTIFACTS :] + order[: worker % ARTIFACTS]
    out = []
    with SqlRegistry(location) as reg:
        for i in order:
            ev = evaluation(0.95)
            mv = reg.register(
                "digits-cnn",
                manifest=manifest(commit=f"artifact-{i}")
                | {"durations": {"step_seconds": worker + 0.5}},  # each run timed differently
                metrics=ev["metrics"],
                gates=ev["gates"],
                git_sha=f"artifact-{i}",
                data_hash=None,
                params={},
                files={"samples.npz": f"samples {i}".encode()},
            )
            out.append(mv.version)
    return out


def _one_version_per_artifact(location: str) -> None:
    with SqlRegistry(location) as reg:
        stored = reg.list("digits-cnn")
        assert sorted(v.git_sha for v in stored) == [f"artifact-{i}" for i in range(ARTIFACTS)]
        assert [v.version for v in stored] == list(range(1, ARTIFACTS + 1))
        for v in stored:
            i = v.git_sha.split("-")[1]
            assert reg.read_file("digits-cnn", v.version, "samples.npz") == f"samples {i}".encode()
        assert sum(e.kind == "registered" for e in reg.history("digits-cnn")) == ARTIFACTS


@pytest.mark.slow
def test_concurrent_registrations_of_the_same_artifacts_give_one_version_each(
    sql_location: str,
) -> None:
    path = sql_location
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, like separate CI jobs
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(WORKERS) as pool:
            pending = [pool.apply_async(_register_all, (path, w, start)) for w in range(WORKERS)]
            start.set()
            results = [p.get(timeout=120) for p in pending]
    by_artifact = [
        sorted(set(r[(i - w % ARTIFACTS) % ARTIFACTS] for w, r in enumerate(results)))
        for i in range(ARTIFACTS)
    ]
    assert all(len(versions) == 1 for versions in by_artifact)  # everyone got the same answer
    _one_version_per_artifact(path)


@pytest.mark.slow
def test_rerunning_kill_interrupted_registrations_gives_one_version_each(
    sql_location: str,
) -> None:
    path = sql_location
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        victims = [ctx.Process(target=_register_all, args=(path, w, start)) for w in range(WORKERS)]
        for p in victims:
            p.start()
        start.set()
        for w, p in enumerate(victims):  # kill -9 at staggered moments, mid-registration
            time.sleep(0.02 * w)
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
        for p in victims:
            p.join(timeout=60)
        # the retried jobs run to completion
        with ctx.Pool(WORKERS) as pool:
            pending = [pool.apply_async(_register_all, (path, w, start)) for w in range(WORKERS)]
            [p.get(timeout=120) for p in pending]
    _one_version_per_artifact(path)


@pytest.mark.parametrize(
    "location", ["mysql://lepton@db.internal/registry", "mssql://x/y", "https://mlflow:5000"]
)
def test_a_location_the_sql_backend_does_not_serve_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEPTON_REGISTRY", location)
    with pytest.raises(UnservedLocation) as caught:
        open_registry(parse_spec(SPEC, "lepton.yaml"), tmp_path)
    assert caught.value.exit_code == ExitCode.SPEC
    assert "sqlite:///PATH" in str(caught.value) and "mlflow" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no file named `postgresql:` or anything else


def test_a_sqlite_url_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_REGISTRY", f"sqlite:///{tmp_path}/shared.db")
    with open_registry(parse_spec(SPEC, "lepton.yaml"), tmp_path) as reg:
        assert reg.location == f"{tmp_path}/shared.db"


def test_a_registry_with_duplicates_from_an_older_lepton_ci_upgrades_in_place(
    tmp_path: Path,
) -> None:
    from lepton_ci.registry.schema import MIGRATIONS, TYPES

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        MIGRATIONS[0].format(**TYPES["sqlite"])
        + ";CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (1);"
    )
    for version in (1, 2):  # what the old read-then-write race left behind
        db.execute(
            "INSERT INTO versions (name, version, created_at, params, manifest, manifest_digest,"
            " metrics, gates) VALUES ('m', ?, '2026-01-01T00:00:00+00:00', '{}', '{}',"
            " 'sha256:dup', '{}', '[]')",
            (version,),
        )
    db.commit()
    db.close()
    with SqlRegistry(path) as reg:
        assert [v.version for v in reg.list("m")] == [1, 2]  # nothing deleted
        again, created = reg.register_artifact(
            "m",
            manifest={},
            metrics={},
            gates=[],
            git_sha=None,
            data_hash=None,
            params={},
            manifest_digest="sha256:dup",
        )
        assert (again.version, created) == (1, False)
