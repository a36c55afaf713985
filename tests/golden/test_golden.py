"""Rendering is stable: each golden case renders exactly its committed expected files.

Fails with a unified diff. Set LEPTON_UPDATE_GOLDEN=1 to rewrite the expected files.
"""

from __future__ import annotations

import difflib
import os

import pytest

from tests.golden.cases import CASES, Case

UPDATE = os.environ.get("LEPTON_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_renders_its_expected_files(case: Case) -> None:
    rendered = {f.path: f.content for f in case.rendered()}
    expected_dir = case.folder / "expected"
    if UPDATE:
        for old in expected_dir.rglob("*") if expected_dir.exists() else []:
            if old.is_file() and old.relative_to(expected_dir).as_posix() not in rendered:
                old.unlink()
        for path, content in rendered.items():
            target = case.expected(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    committed = {
        p.relative_to(expected_dir).as_posix() for p in expected_dir.rglob("*") if p.is_file()
    }
    assert committed == set(rendered), "set of generated files changed"
    diffs = []
    for path, content in rendered.items():
        want = case.expected_text(path) or ""
        if want != content:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        want.splitlines(keepends=True),
                        content.splitlines(keepends=True),
                        f"expected/{path}",
                        f"rendered/{path}",
                    )
                )
            )
    assert not diffs, "\n".join(diffs) + "\n(LEPTON_UPDATE_GOLDEN=1 regenerates)"


def test_there_is_a_case_for_every_style_and_platform() -> None:
    covered = {(c.style, p) for c in CASES for p in c.platforms}
    assert covered >= {(s, p) for s in ("library", "standalone") for p in ("jenkins", "gitlab")}
