"""The SQL registry on PostgreSQL: reached by URL, migrated like SQLite, never leaking passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lepton_ci.errors import ExitCode, LeptonError, MissingDependency, ServerError
from lepton_ci.registry import open_registry
from lepton_ci.registry.schema import SCHEMA_VERSION, statements
from lepton_ci.registry.sql import SqlRegistry
from lepton_ci.spec.loader import parse_spec
from tests.services import PostgresServer

from .conftest import SPEC
from .test_registry import add

CANARY = "canary-Pa55w0rd-never-shown"


def _engine(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_lepton_registry_names_a_postgresql_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_REGISTRY", postgres_url)
    monkeypatch.setenv("CI", "true")  # a database is shared by every job: not refused in CI
    with open_registry(parse_spec(SPEC, "lepton.yaml"), tmp_path) as reg:
        assert add(reg, "m").version == 1
        assert reg.location == postgres_url.replace("lepton@", "***@")
    assert list(tmp_path.iterdir()) == []  # no file named after the URL


def test_a_password_in_the_url_is_redacted_from_every_message(
    postgres_server: PostgresServer, postgres_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = postgres_url.replace("lepton@", f"lepton:{CANARY}@")
    with pytest.raises(ServerError) as caught:
        SqlRegistry(wrong)
    shown = str(caught.value)
    assert "password authentication failed" in shown and "***@127.0.0.1" in shown
    assert CANARY not in shown and CANARY not in repr(caught.value.args)
    assert caught.value.exit_code == ExitCode.SERVER
    right = postgres_url.replace("lepton@", f"lepton:{postgres_server.password}@")
    with SqlRegistry(right) as reg:
        assert postgres_server.password not in reg.location
    out, err = capfd.readouterr()
    assert CANARY not in out + err and postgres_server.password not in out + err


def test_an_unreachable_server_is_a_server_error_naming_it(postgres_url: str) -> None:
    dead = postgres_url.rsplit(":", 1)[0] + ":1/nothing"
    with pytest.raises(ServerError, match=r"postgresql://\*\*\*@127.0.0.1:1/nothing") as caught:
        SqlRegistry(dead)
    assert "PGPASSWORD" in str(caught.value.hint)


def test_the_database_is_versioned_and_a_newer_schema_is_refused_untouched(
    postgres_url: str,
) -> None:
    with SqlRegistry(postgres_url) as reg:
        add(reg, "m")
    engine = _engine(postgres_url)
    with engine.begin() as db:
        assert db.execute(text("SELECT MAX(version) FROM schema_version")).scalar() == (
            SCHEMA_VERSION
        )
        db.execute(text("INSERT INTO schema_version VALUES (:v)"), {"v": SCHEMA_VERSION + 1})
    with pytest.raises(LeptonError, match="newer than this lepton-ci"):
        SqlRegistry(postgres_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM versions")).scalar() == 1
    engine.dispose()


def test_a_schema_1_database_with_duplicates_upgrades_in_place(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    with engine.begin() as db:  # what a schema-1 registry holds after the old race
        for statement in statements(0, "postgresql"):
            db.exec_driver_sql(statement)
        db.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
        db.execute(text("INSERT INTO schema_version VALUES (1)"))
        for version in (1, 2):
            db.execute(
                text(
                    "INSERT INTO versions (name, version, created_at, params, manifest,"
                    " manifest_digest, metrics, gates) VALUES ('m', :v,"
                    " '2026-01-01T00:00:00+00:00', '{}', '{}', 'sha256:dup', '{}', '[]')"
                ),
                {"v": version},
            )
    engine.dispose()
    with SqlRegistry(postgres_url) as reg:
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


def test_without_psycopg_the_fix_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "psycopg" else real(n, *a)
    )
    with pytest.raises(MissingDependency) as caught:
        SqlRegistry("postgresql://lepton@127.0.0.1:1/x")
    assert caught.value.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "lepton-ci[postgres]" in str(caught.value)


def test_a_password_in_lepton_yaml_is_refused() -> None:
    text_ = SPEC + f"registry: {{backend: sql, path: 'postgresql://lepton:{CANARY}@db/lepton'}}\n"
    with pytest.raises(LeptonError, match="PGPASSWORD") as caught:
        parse_spec(text_, "lepton.yaml")
    assert "registry.path" in str(caught.value) and CANARY not in str(caught.value)
    spec = parse_spec(SPEC + "registry: {backend: sql, path: 'postgresql://lepton@db/x'}\n", "l")
    assert spec.registry.sql


def test_validate_takes_a_database_url_for_shared_and_opens_nothing(
    lepton, spec_file: Path
) -> None:
    spec_file.write_text(SPEC + "registry: {path: 'postgresql://lepton@db.example.com/lepton'}\n")
    code, out, err = lepton("validate")
    # no "inside the workspace" warning, no connection attempted (the torch-pin warning of
    # this inline spec, which lists no requirements, is another matter)
    assert code == 0 and "registry" not in err and "workspace" not in err, err
    assert "valid" in out


def test_the_models_commands_register_and_list_on_postgresql(
    lepton, make_run, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEPTON_REGISTRY", postgres_url)
    run = make_run(0.95, commit="feedface00")
    code, _out, err = lepton("models", "register", "--run-dir", str(run))
    assert code == 0, err
    assert "registered digits-cnn version 1" in err
    code, out, err = lepton("models", "list")
    assert code == 0, err
    assert out.splitlines()[1].split()[0] == "1" and "feedface00" in out
    assert not list(tmp_path.rglob("*.db"))  # no registry file: the versions are in PostgreSQL


def test_a_password_on_the_command_line_is_refused_but_the_environment_may_carry_it(
    lepton, postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_password = postgres_url.replace("lepton@", f"lepton:{postgres_server.password}@")
    code, out, err = lepton("models", "list", "--registry", with_password)
    assert code == ExitCode.USAGE and "PGPASSWORD" in err
    assert postgres_server.password not in out + err
    monkeypatch.setenv("LEPTON_REGISTRY", with_password)  # a masked CI variable: fine
    code, out, err = lepton("models", "list")
    assert code == 0, err
    assert postgres_server.password not in out + err
