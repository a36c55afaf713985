"""Spec values full of Groovy and shell metacharacters neither break the Jenkinsfile nor run.

The payload (quotes, `$`, `${env.X}`, `${"${x}"}`, backticks, backslashes, newlines, a
`${new File(...).write(...)}` expression) goes into the project name, an agent label, the
approvers and the spec path; Groovy evaluation must hand each back byte for byte.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from lepton_ci.pipeline.model import shell_line
from tests.jenkins.conftest import STYLES, hostile, payload


@pytest.fixture(params=STYLES)
def style(request: pytest.FixtureRequest, groovy_runtime: None) -> str:
    return str(request.param)


def test_payload_values_come_back_byte_exact_and_nothing_runs(style: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = payload(marker)
    r = hostile(style, marker)
    evaluation = r.evaluate(branch="main")

    assert not marker.exists(), "a spec value was executed as Groovy"
    shells = evaluation.of_kind("sh")
    assert [(e["job"], e["script"]) for e in shells] == [
        (job, shell_line(cmd)) for job, cmd in r.pipeline.command_sequence()
    ]
    train = next(e["script"] for e in shells if e["job"] == "train" and "venv" not in e["script"])
    assert shlex.split(train) == ["lepton-ci", "train", "--spec", f"specs/{text}.yaml"]
    assert {e["env"]["LEPTON_PROJECT"] for e in shells} == {text}
    [ask] = evaluation.of_kind("input")
    assert ask["submitter"] == f"{text},ops"
    labels = [e["label"] for e in evaluation.of_kind("node")] or [
        e["agent"]["label"]["value"] for e in evaluation.of_kind("stage") if e.get("agent")
    ]
    assert labels and set(labels) == {text}


SINGLE_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'")


@pytest.mark.parametrize("style_name", STYLES)
def test_payload_stays_inside_single_quoted_literals(style_name: str, tmp_path: Path) -> None:
    """Without comments and single-quoted literals (never interpolated), no payload is left."""
    r = hostile(style_name, tmp_path / "pwned")
    code = "\n".join(
        SINGLE_QUOTED.sub("''", line)
        for line in r.text.splitlines()
        if not line.lstrip().startswith("//")
    )
    for fragment in ("quoted", "$HOME", "touch", "pwned", "line two", "$(id)"):
        assert fragment not in code
