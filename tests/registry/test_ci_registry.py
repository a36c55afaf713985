"""In CI a registry must be shared: a workspace-local file is refused before anything happens,
and champion gates never pass silently because the registry is empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode
from lepton_ci.registry import WorkspaceRegistryInCI, open_registry
from lepton_ci.runtime.evaluate import EvaluateOptions, _champion
from lepton_ci.spec.loader import parse_spec

from .conftest import SPEC, evaluation, manifest

RELATIVE_SPEC = SPEC.replace(
    "gates: [accuracy >= 0.9]",
    "gates: [accuracy >= 0.9, {metric: accuracy, op: '>=', champion_delta: -0.01}]",
)


@pytest.mark.parametrize("variable", ["CI", "GITLAB_CI", "JENKINS_URL"])
def test_the_default_workspace_registry_is_an_error_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "true" if variable != "JENKINS_URL" else "https://ci/")
    with pytest.raises(WorkspaceRegistryInCI) as caught:
        open_registry(parse_spec(SPEC, "lepton.yaml"), tmp_path)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.SPEC
    assert variable in message and "LEPTON_REGISTRY" in message and "registry:" in message
    assert "mlflow" in message and "shared: true" in message
    assert not (tmp_path / ".lepton").exists()  # nothing created


def test_a_shared_location_or_an_explicitly_shared_host_path_is_accepted_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    workspace, shared = tmp_path / "ws", tmp_path / "shared"
    workspace.mkdir()
    monkeypatch.setenv("LEPTON_REGISTRY", str(shared / "registry.db"))
    with open_registry(parse_spec(SPEC, "lepton.yaml"), workspace) as reg:
        assert reg.location == str(shared / "registry.db")
    monkeypatch.delenv("LEPTON_REGISTRY")
    inside = parse_spec(SPEC + "registry: {path: .lepton/registry.db, shared: true}\n", "x.yaml")
    with open_registry(inside, workspace) as reg:  # e.g. the workspace itself is a host volume
        assert reg.location.startswith(str(workspace))


def test_models_commands_fail_in_ci_naming_the_fix(lepton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    code, _, err = lepton("models", "list")
    assert code == ExitCode.SPEC and "LEPTON_REGISTRY" in err and "Traceback" not in err


def test_validate_warns_about_a_workspace_local_registry(lepton) -> None:
    code, out, err = lepton("validate")
    assert code == 0 and "valid" in out
    assert "warning" in err and "inside the workspace" in err and "LEPTON_REGISTRY" in err


def _register(reg, commit: str) -> None:
    ev = evaluation(0.95)
    reg.register(
        "digits-cnn",
        manifest=manifest(commit=commit),
        metrics=ev["metrics"],
        gates=ev["gates"],
        git_sha=commit,
        data_hash=None,
        params={},
    )


def test_an_empty_registry_means_first_version_and_versions_without_champion_fail_closed(
    tmp_path: Path,
) -> None:
    spec = parse_spec(RELATIVE_SPEC, "lepton.yaml")
    missing: list[str] = []
    assert _champion(spec, tmp_path, EvaluateOptions(), missing) is None
    assert missing == [""]  # the first-ever version: skipped, and says so

    with open_registry(spec, tmp_path) as reg:
        _register(reg, "aaa")
    missing = []
    assert _champion(spec, tmp_path, EvaluateOptions(), missing) is None
    assert "v1" in missing[0] and "promote" in missing[0] and "fail closed" in missing[0]
