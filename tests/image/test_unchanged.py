"""What counts as a change of an image's inputs (the no-op build; the engine is in
tests/image/test_build_push.py)."""

from __future__ import annotations

import json
from pathlib import Path

from lepton_ci.image.context import build_context
from lepton_ci.image.unchanged import inputs_digest
from lepton_ci.render.docker import render_dockerfile, render_dockerignore
from tests.image.test_context import SPEC
from tests.services import make_tiny_model

ARGS = {"LEPTON_MODEL_VERSION": "1", "LEPTON_MANIFEST_DIGEST": "sha256:abc"}


def digest(repo: Path, model: Path, args: dict[str, str] = ARGS, base: str = "base:1") -> str:
    context = build_context(
        repo,
        dockerfile=render_dockerfile(SPEC),
        dockerignore=render_dockerignore(SPEC),
        model_dir=model,
    )
    return inputs_digest(context, args, base)


def test_a_step_cache_hit_rewriting_the_manifests_timings_changes_nothing(
    tmp_path: Path,
) -> None:
    """The manifest counts by its identity (a build argument), not by its bytes."""
    repo, model = tmp_path / "repo", make_tiny_model(tmp_path / "model")
    (repo / "app.py").parent.mkdir()
    (repo / "app.py").write_text("code\n")
    before = digest(repo, model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["durations"] = {"train_seconds": 99.0}
    manifest["created_at"] = "2030-01-01T00:00:00+00:00"
    (model / "manifest.json").write_text(json.dumps(manifest))
    assert digest(repo, model) == before


def test_code_model_bytes_build_arguments_and_base_are_changes(tmp_path: Path) -> None:
    repo, model = tmp_path / "repo", make_tiny_model(tmp_path / "model")
    (repo / "app.py").parent.mkdir()
    (repo / "app.py").write_text("code\n")
    seen = {digest(repo, model)}
    (repo / "app.py").write_text("code, changed\n")
    seen.add(digest(repo, model))
    (model / "labels.json").write_text('["a", "b"]')
    seen.add(digest(repo, model))
    seen.add(digest(repo, model, {**ARGS, "LEPTON_MODEL_VERSION": "2"}))
    seen.add(digest(repo, model, base="base:2"))
    (repo / "app.py").chmod(0o755)
    seen.add(digest(repo, model))
    assert len(seen) == 6
