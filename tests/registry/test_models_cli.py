"""`lepton-ci models …` as the pipeline and people run it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from lepton_ci.errors import ExitCode
from lepton_ci.identity import identity_digest

from .conftest import RunDir


def registered_versions(tmp_path: Path) -> int:
    db = tmp_path / ".lepton" / "registry.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT COUNT(*) FROM versions").fetchone()[0])


def test_register_records_the_run_and_hands_the_version_on(
    lepton, make_run: RunDir, tmp_path: Path
) -> None:
    run = make_run(0.95, commit="feedface00")
    code, out, err = lepton("models", "register", "--run-dir", str(run), "--format", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["name"], shown["version"], shown["git_sha"]) == ("digits-cnn", 1, "feedface00")
    assert shown["gates_passed"] is True
    recorded = json.loads((run / "train" / "manifest.json").read_text())

    assert shown["manifest_digest"] == identity_digest(recorded)  # the artifact's identity
    assert (run / "register" / "model.env").read_text() == (
        "LEPTON_MODEL_NAME=digits-cnn\nLEPTON_MODEL_VERSION=1\n"
    )
    assert "registered digits-cnn version 1" in err

    code, out, _ = lepton("models", "show", "1", "--format", "json")
    assert json.loads(out)["metrics"]["accuracy"] == 0.95
    code, out, _ = lepton("models", "list")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["VERSION", "CREATED", "GIT", "GATES"]
    assert out.splitlines()[1].split()[0] == "1" and "feedface00" in out


def test_register_refuses_a_run_that_failed_its_gates_and_writes_nothing(
    lepton, make_run: RunDir, tmp_path: Path
) -> None:
    run = make_run(0.5)
    code, _out, err = lepton("models", "register", "--run-dir", str(run))
    assert code == ExitCode.GATE
    assert "did not pass its quality gates (accuracy >= 0.9)" in err
    assert "Traceback" not in err
    assert registered_versions(tmp_path) == 0
    assert not (run / "register" / "model.env").exists()


def test_register_refuses_a_run_without_evaluation(lepton, make_run: RunDir, tmp_path) -> None:
    run = make_run(None)
    code, _, err = lepton("models", "register", "--run-dir", str(run))
    assert code == ExitCode.GATE
    assert "no evaluation result" in err and "lepton-ci evaluate" in err
    assert registered_versions(tmp_path) == 0


def test_register_refuses_an_artifact_that_does_not_match_its_manifest(
    lepton, make_run: RunDir, tmp_path: Path
) -> None:
    run = make_run(0.95)
    (run / "train" / "model.pt").write_bytes(b"swapped after training")
    code, _, err = lepton("models", "register", "--run-dir", str(run))
    assert code != 0 and "model.pt" in err
    assert registered_versions(tmp_path) == 0


def test_register_without_a_trained_model_says_so(lepton, tmp_path: Path) -> None:
    code, _, err = lepton("models", "register", "--run-dir", str(tmp_path / "empty"))
    assert code == ExitCode.FAILURE
    assert "no trained model to register" in err


def test_promote_uses_the_registered_version_and_history_shows_it(lepton, make_run: RunDir) -> None:
    run = make_run(0.95)
    assert lepton("models", "register", "--run-dir", str(run))[0] == 0
    code, _, err = lepton("models", "promote", "--to", "champion", "--run-dir", str(run))
    assert code == 0, err
    code, out, _ = lepton("models", "show", "champion", "--format", "json")
    assert json.loads(out)["aliases"] == ["champion"]
    code, out, _ = lepton("models", "history", "--format", "json")
    kinds = [(e["kind"], e["version"], e["actor"]) for e in json.loads(out)]
    assert kinds == [("registered", 1, "alice"), ("alias", 1, "alice")]
    code, out, _ = lepton("models", "history")
    assert "champion -> 1" in out


def test_forced_promotion_needs_a_reason_and_is_logged_with_the_actor(
    lepton, make_run: RunDir, monkeypatch
) -> None:
    good = make_run(0.95)
    lepton("models", "register", "--run-dir", str(good))
    lepton("models", "promote", "1", "--to", "staging")  # any version may become staging
    # a version that failed its gates can only be registered directly; simulate one
    from lepton_ci.registry import open_registry
    from lepton_ci.spec.loader import load_spec

    from .conftest import evaluation, manifest

    with open_registry(load_spec("lepton.yaml")) as reg:
        ev = evaluation(0.5)
        reg.register(
            "digits-cnn",
            manifest=manifest(),
            metrics=ev["metrics"],
            gates=ev["gates"],
            git_sha="bad",
            data_hash=None,
            params={},
        )

    code, _, err = lepton("models", "promote", "2", "--to", "champion")
    assert code == ExitCode.GATE and "--force --reason" in err
    code, _, err = lepton("models", "promote", "2", "--to", "champion", "--force")
    assert code != 0 and "--force needs --reason" in err

    monkeypatch.setenv("GITLAB_USER_LOGIN", "carol")
    code, _, err = lepton(
        "models", "promote", "2", "--to", "champion", "--force", "--reason", "INC-7 hotfix"
    )
    assert code == 0, err
    code, out, _ = lepton("models", "history", "--format", "json")
    forced = [e for e in json.loads(out) if e["kind"] == "alias" and e["details"]["forced"]]
    assert [(e["version"], e["actor"], e["reason"]) for e in forced] == [
        (2, "carol", "INC-7 hotfix")
    ]
    assert forced[0]["details"]["gates_passed"] is False


def test_deployments_and_what_served_at_a_time(lepton, make_run: RunDir) -> None:
    from datetime import datetime, timezone

    from lepton_ci.registry import open_registry
    from lepton_ci.spec.loader import load_spec

    for acc in (0.95, 0.96):
        lepton("models", "register", "--run-dir", str(make_run(acc, commit=f"c0ffee{acc}")))
    with open_registry(load_spec("lepton.yaml")) as reg:
        reg.record_deployment(
            "digits-cnn",
            1,
            environment="production",
            image_digest="sha256:" + "1" * 64,
            outcome="succeeded",
        )
        between = datetime.now(timezone.utc).isoformat()
        reg.record_deployment(
            "digits-cnn",
            2,
            environment="production",
            image_digest="sha256:" + "2" * 64,
            outcome="succeeded",
        )

    code, out, _ = lepton("models", "deployments", "--env", "production", "--format", "json")
    assert [d["version"] for d in json.loads(out)] == [2, 1]
    code, out, _ = lepton(
        "models", "deployments", "--env", "production", "--at", between, "--format", "json"
    )
    assert code == 0 and json.loads(out)["version"] == 1
    code, out, _ = lepton("models", "deployments", "--env", "production", "--at", "2000-01-01")
    assert "nothing served production" in out
    code, _, err = lepton("models", "deployments", "--at", between)
    assert code == ExitCode.USAGE and "--at needs --env" in err


def test_unknown_version_exits_with_a_message(lepton, make_run: RunDir) -> None:
    lepton("models", "register", "--run-dir", str(make_run(0.95)))
    code, _, err = lepton("models", "show", "9")
    assert code == ExitCode.FAILURE and "has no version 9" in err
    code, _, err = lepton("models", "show", "champion")
    assert code == ExitCode.FAILURE and "has no version champion" in err


def test_a_retried_register_job_reuses_the_version_it_created(
    lepton, make_run: RunDir, tmp_path: Path
) -> None:
    """CI retries a job whose first attempt succeeded: the same artifact is not registered twice."""
    run = make_run(0.95)
    assert lepton("models", "register", "--run-dir", str(run))[0] == 0
    code, _out, err = lepton("models", "register", "--run-dir", str(run))
    assert code == 0, err
    assert "version 1 already holds this artifact" in err
    assert registered_versions(tmp_path) == 1
    assert (run / "register" / "model.env").read_text().endswith("LEPTON_MODEL_VERSION=1\n")
    other = make_run(0.95, commit="0badc0ffee")  # a different artifact is a new version
    assert lepton("models", "register", "--run-dir", str(other))[0] == 0
    assert registered_versions(tmp_path) == 2
