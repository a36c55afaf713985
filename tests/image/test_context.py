"""The build context: what goes into the image, and what never does."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from lepton_ci.errors import LeptonError
from lepton_ci.image.context import build_context
from lepton_ci.render.docker import render_dockerfile, render_dockerignore
from lepton_ci.spec.loader import parse_spec
from tests.services import make_tiny_model

SPEC = parse_spec(
    'version: 1\nproject: {name: ctx}\ntrain: {entrypoint: "a.b:c"}\n'
    'evaluate: {entrypoint: "a.b:d"}\n',
    "lepton.yaml",
)


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _members(context) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=context) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_context_has_code_artifact_and_wheel_but_no_vcs_venv_or_run_outputs(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    _tree(
        repo,
        {
            "lepton.yaml": "...",
            "pkg/model.py": "x = 1",
            ".git/config": "[core]",
            ".venv/bin/python": "",
            "pkg/__pycache__/model.cpython-311.pyc": "",
            ".lepton/run/evaluate/metrics.json": "{}",
            ".lepton/registry.db": "",
            "Dockerfile": "FROM hand-written",
        },
    )
    model = make_tiny_model(tmp_path / "elsewhere" / "train")
    wheel = tmp_path / "lepton_ci-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    dockerfile = render_dockerfile(SPEC)
    members = _members(
        build_context(
            repo,
            dockerfile=dockerfile,
            dockerignore=render_dockerignore(SPEC),
            model_dir=model,
            wheel=wheel,
        )
    )
    files = {name for name, m in members.items() if m.isfile()}
    assert {"lepton.yaml", "pkg/model.py", "Dockerfile", ".dockerignore"} <= files
    assert {".lepton/run/train/model.pt", ".lepton/run/train/manifest.json"} <= files
    assert f".lepton/wheels/{wheel.name}" in files
    leaked = [
        n
        for n in files
        if n.startswith((".git/", ".venv/", ".lepton/run/evaluate"))
        or "__pycache__" in n
        or n == ".lepton/registry.db"
    ]
    assert leaked == []
    assert all(m.uid == 0 and m.mtime == members["Dockerfile"].mtime for m in members.values())


def test_the_rendered_dockerfile_replaces_a_stale_one(tmp_path: Path) -> None:
    _tree(tmp_path / "repo", {"Dockerfile": "FROM stale"})
    model = make_tiny_model(tmp_path / "train")
    dockerfile = render_dockerfile(SPEC)
    context = build_context(
        tmp_path / "repo",
        dockerfile=dockerfile,
        dockerignore=render_dockerignore(SPEC),
        model_dir=model,
    )
    with tarfile.open(fileobj=context) as tar:
        assert tar.extractfile("Dockerfile").read().decode() == dockerfile  # type: ignore[union-attr]
        assert ".lepton/wheels" in tar.getnames()  # present (empty) even without a wheel


def test_an_untrained_model_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(LeptonError, match="manifest"):
        build_context(tmp_path, dockerfile="", dockerignore="", model_dir=tmp_path / "train")
