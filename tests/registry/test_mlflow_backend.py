"""`registry.backend: mlflow`: the same commands against a real MLflow store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode, MissingDependency

from .conftest import SPEC, RunDir, mlflow_spec


@pytest.fixture
def mlflow_project(spec_file: Path, mlflow_uri: str, name: str) -> str:
    """The project's spec names this test's model and the shared MLflow store."""
    text = SPEC.replace("model: digits-cnn", f"model: {name}")
    spec_file.write_text(text + f"registry: {{backend: mlflow, tracking_uri: '{mlflow_uri}'}}\n")
    return mlflow_uri


def test_register_and_promote_land_in_mlflows_model_registry(
    lepton, make_run: RunDir, mlflow_project: str, name: str
) -> None:
    from mlflow import MlflowClient

    run = make_run(0.96, commit="c0ffee", model=name)
    code, out, err = lepton("models", "register", "--run-dir", str(run), "--format", "json")
    assert code == 0, err
    version = json.loads(out)["version"]
    code, _, err = lepton("models", "promote", "--to", "champion", "--run-dir", str(run))
    assert code == 0, err

    client = MlflowClient(tracking_uri=mlflow_project, registry_uri=mlflow_project)
    champion = client.get_model_version_by_alias(name, "champion")
    assert int(champion.version) == version
    assert champion.tags["lepton.git_sha"] == "c0ffee"
    mlflow_run = client.get_run(champion.run_id)
    assert mlflow_run.data.metrics["accuracy"] == pytest.approx(0.96)
    assert json.loads(mlflow_run.data.params["epochs"]) == 3
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "lepton/files")}
    assert "lepton/files/samples.npz" in artifacts

    code, out, _ = lepton("models", "show", "champion", "--format", "json")
    shown = json.loads(out)
    assert (shown["version"], shown["aliases"], shown["git_sha"]) == (
        version,
        ["champion"],
        "c0ffee",
    )
    code, out, _ = lepton("models", "history", "--format", "json")
    assert [e["kind"] for e in json.loads(out)] == ["registered", "alias"]


def test_mlflow_refusal_writes_no_model_version(
    lepton, make_run: RunDir, mlflow_project: str, name: str
) -> None:
    from mlflow import MlflowClient

    code, _, _err = lepton("models", "register", "--run-dir", str(make_run(0.4, model=name)))
    assert code == ExitCode.GATE
    client = MlflowClient(tracking_uri=mlflow_project, registry_uri=mlflow_project)
    assert client.search_model_versions(f"name = '{name}'") == []


def test_without_mlflow_installed_the_backend_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lepton_ci.registry import open_registry

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    with pytest.raises(MissingDependency) as err:
        open_registry(mlflow_spec("sqlite:///" + str(tmp_path / "x.db")))
    assert err.value.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "lepton-ci[mlflow]" in str(err.value)
