"""A built wheel carries its templates, Jenkins library and GitLab templates: `lepton-ci init`
works from a fresh virtualenv, outside the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("lepton_ci-*.whl")
    return built


def test_wheel_ships_templates_library_and_gitlab_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for required in (
        "lepton_ci/_data/templates/spec/lepton.yaml.j2",
        "lepton_ci/_data/jenkins/vars/leptonPipeline.groovy",
        "lepton_ci/py.typed",
    ):
        assert required in names
    assert any(n.startswith("lepton_ci/_data/gitlab/") for n in names)
    assert not any(n.startswith("tests/") for n in names)


@pytest.mark.slow
def test_init_runs_from_a_fresh_venv_outside_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        timeout=600,
    )
    repo = tmp_path / "model-repo"
    repo.mkdir()
    out = subprocess.run(
        [str(venv / "bin/lepton-ci"), "init", "--name", "fresh"],
        cwd=repo,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (repo / "Jenkinsfile").exists() and (repo / ".gitlab-ci.yml").exists()
    where = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import lepton_ci.resources as r; print(r.template_dir())",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in where and str(ROOT) not in where
