"""The registry's contract, on the embedded SQLite backend."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode, GateFailed, LeptonError
from lepton_ci.registry import Registry, UnknownVersion, open_registry
from lepton_ci.registry.schema import SCHEMA_VERSION
from lepton_ci.spec.loader import parse_spec

from .conftest import SPEC, evaluation, manifest


def add(registry: Registry, name: str, accuracy: float = 0.95, commit: str = "abc"):
    ev = evaluation(accuracy)
    return registry.register(
        name,
        manifest=manifest(commit=commit),
        metrics=ev["metrics"],
        gates=ev["gates"],
        git_sha=commit,
        data_hash="sha256:" + "cd" * 32,
        params={"epochs": 3},
        files={"samples.npz": b"samples of " + commit.encode()},
    )


def test_versions_are_numbered_per_model_and_keep_what_was_registered(
    registry: Registry, name: str
) -> None:
    first = add(registry, name, 0.95, "aaa")
    second = add(registry, name, 0.97, "bbb")
    other = add(registry, name + "-other", 0.91, "ccc")

    assert (first.version, second.version, other.version) == (1, 2, 1)
    shown = registry.get(name, 2)
    assert shown.git_sha == "bbb"
    assert shown.metrics["accuracy"] == 0.97
    assert shown.manifest["git"]["commit"] == "bbb"
    assert shown.manifest_digest and shown.manifest_digest.startswith("sha256:")
    assert shown.gates[0]["passed"] is True and shown.gates_passed
    assert shown.params == {"epochs": 3}
    assert [v.version for v in registry.list(name)] == [1, 2]
    assert registry.latest(name) == shown
    assert registry.latest("never-registered") is None
    assert registry.read_file(name, 1, "samples.npz") == b"samples of aaa"
    assert registry.read_file(name, 1, "absent.bin") is None


def test_an_unknown_version_is_a_user_error(registry: Registry, name: str) -> None:
    add(registry, name)
    with pytest.raises(UnknownVersion, match="no version 7") as err:
        registry.get(name, 7)
    assert isinstance(err.value, LeptonError)


def test_champion_needs_passed_gates_or_a_forced_logged_override(
    registry: Registry, name: str
) -> None:
    good = add(registry, name, 0.95)
    bad = add(registry, name, 0.50, "bad")
    registry.set_alias(name, good.version, "champion", reason="gates passed", actor="ci")
    assert registry.champion(name).version == good.version

    with pytest.raises(GateFailed, match="did not pass its quality gates") as err:
        registry.set_alias(name, bad.version, "champion", reason="please")
    assert err.value.exit_code == ExitCode.GATE
    assert registry.champion(name).version == good.version
    with pytest.raises(LeptonError, match="needs a reason"):
        registry.set_alias(name, bad.version, "champion", reason=" ", forced=True)

    registry.set_alias(
        name, bad.version, "champion", reason="hotfix INC-42", actor="bob", forced=True
    )
    assert registry.champion(name).version == bad.version
    assert registry.get(name, bad.version).aliases == ("champion",)
    assert registry.get(name, good.version).aliases == ()
    moves = [e for e in registry.history(name) if e.kind == "alias"]
    assert [(e.version, e.actor, e.reason, e.details["forced"]) for e in moves] == [
        (good.version, "ci", "gates passed", False),
        (bad.version, "bob", "hotfix INC-42", True),
    ]
    assert moves[1].details["previous_version"] == good.version


def test_other_aliases_move_freely_but_reserved_names_are_refused(
    registry: Registry, name: str
) -> None:
    bad = add(registry, name, 0.5)
    registry.set_alias(name, bad.version, "canary", reason="try it")
    assert registry.by_alias(name, "canary").version == bad.version
    for alias in ("latest", "v2", "has space"):
        with pytest.raises(LeptonError, match="invalid alias"):
            registry.set_alias(name, bad.version, alias, reason="x")


def test_image_is_recorded_on_the_version(registry: Registry, name: str) -> None:
    v = add(registry, name)
    registry.set_image(name, v.version, image="reg:5000/digits:1", digest="sha256:" + "e" * 64)
    got = registry.get(name, v.version)
    assert (got.image, got.image_digest) == ("reg:5000/digits:1", "sha256:" + "e" * 64)
    assert registry.history(name)[-1].kind == "image"


def test_which_version_served_production_when_and_what_to_roll_back_to(
    registry: Registry, name: str
) -> None:
    v1, v2, v3 = (add(registry, name, 0.95, c) for c in ("a1", "b2", "c3"))
    times = []

    def deploy(version: int, env: str, outcome: str) -> None:
        registry.record_deployment(
            name,
            version,
            environment=env,
            image_digest=f"sha256:{version}",
            outcome=outcome,
            details={"url": "http://127.0.0.1:8080"},
        )
        times.append(datetime.now(timezone.utc))

    before_any = datetime.now(timezone.utc)
    deploy(v1.version, "production", "succeeded")
    deploy(v2.version, "staging", "succeeded")
    deploy(v2.version, "production", "succeeded")
    deploy(v3.version, "production", "rolled_back")

    prod = registry.deployments(name, "production")
    assert [(d.version, d.outcome) for d in prod] == [
        (3, "rolled_back"),
        (2, "succeeded"),
        (1, "succeeded"),
    ]
    assert (prod[0].image_digest, prod[0].actor) == ("sha256:3", "alice")
    assert len(registry.deployments(name)) == 4

    assert registry.serving_at(name, "production", before_any) is None
    assert registry.serving_at(name, "production", times[0]).version == 1
    assert registry.serving_at(name, "production", times[1]).version == 1
    assert registry.serving_at(name, "production", times[3]).version == 2
    naive_now = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=1)
    assert registry.serving_at(name, "production", naive_now).version == 2
    assert registry.serving_at(name, "staging", times[3]).version == 2

    assert registry.previous_production(name, "production").version == 1
    assert registry.previous_production(name, "staging") is None
    with pytest.raises(LeptonError, match="unknown deployment outcome"):
        registry.record_deployment(
            name, 1, environment="production", image_digest=None, outcome="ok"
        )


def test_metrics_are_logged_per_kind_even_for_unregistered_runs(
    registry: Registry, name: str
) -> None:
    v = add(registry, name)
    registry.log_metrics(name, v.version, {"train_seconds": 12.5}, kind="timing")
    registry.log_metrics(name, v.version, {"accuracy": 0.95, "loss": 0.2}, kind="evaluate")
    registry.log_metrics(name, None, {"accuracy": 0.4}, kind="evaluate")
    assert registry.logged_metrics(name, v.version) == {
        "timing": {"train_seconds": 12.5},
        "evaluate": {"accuracy": 0.95, "loss": 0.2},
    }
    assert registry.logged_metrics(name, None, "evaluate") == {"evaluate": {"accuracy": 0.4}}


def test_the_file_is_versioned_and_survives_reopening(tmp_path: Path, name: str) -> None:
    spec = parse_spec(SPEC, "lepton.yaml")
    with open_registry(spec, tmp_path) as reg:
        add(reg, name)
    db_file = tmp_path / ".lepton" / "registry.db"
    with sqlite3.connect(db_file) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with open_registry(spec, tmp_path) as reg:
        assert reg.latest(name).version == 1
        assert add(reg, name, commit="next").version == 2
        assert add(reg, name).version == 1  # the same artifact again: the same version


def test_a_registry_from_a_newer_lepton_ci_is_refused_untouched(tmp_path: Path) -> None:
    spec = parse_spec(SPEC, "lepton.yaml")
    db_file = tmp_path / "future.db"
    with sqlite3.connect(db_file) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(LeptonError, match="newer than this lepton-ci"):
        open_registry(spec, tmp_path, str(db_file))


def test_location_override_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    spec = parse_spec(SPEC, "lepton.yaml")
    monkeypatch.setenv("LEPTON_REGISTRY", str(tmp_path / "shared" / "team.db"))
    with open_registry(spec, tmp_path) as reg:
        add(reg, name)
    assert (tmp_path / "shared" / "team.db").is_file()
    assert not (tmp_path / ".lepton").exists()
