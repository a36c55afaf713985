"""`lepton-ci serve`'s set-up: the options given, else the spec, else the run directory."""

from __future__ import annotations

from pathlib import Path

from lepton_ci.run_dir import ModelEnv, RunDir
from lepton_ci.serve.config import configure


def test_without_a_spec_the_run_directory_names_the_model_and_its_version(tmp_path: Path) -> None:
    run = RunDir.at(tmp_path / "run")
    run.write_model_env(ModelEnv("digits", 3))
    config = configure(tmp_path / "absent.yaml", run.path)
    assert config.model_dir == run.train_dir
    assert config.model_version == "3"
    assert (config.port, config.max_batch, config.workers) == (8080, 256, 1)


def test_options_given_win_over_the_run_directory(tmp_path: Path) -> None:
    run = RunDir.at(tmp_path / "run")
    run.write_model_env(ModelEnv("digits", 3))
    config = configure(
        tmp_path / "absent.yaml", run.path, model_dir=tmp_path, model_version="9", port=9000
    )
    assert (config.model_dir, config.model_version, config.port) == (tmp_path, "9", 9000)


def test_an_unregistered_run_serves_without_a_version(tmp_path: Path) -> None:
    assert configure(tmp_path / "absent.yaml", tmp_path / "run").model_version is None
