"""Free text from lepton.yaml reaches GitLab byte-exact and beyond the reach of `$` expansion.

The project name, runner tags and the spec path below carry quotes, `$VAR`, `${VAR}`,
backticks, `$(...)`, backslashes and newlines. After YAML parsing they must be exactly what the
spec said; where GitLab expands variables (`variables:`, `tags:`) they must sit in a variable
with `expand: false`; in scripts the shell must see them as one literal word.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lepton_ci.render.files import GeneratedFile
from tests.gitlab.conftest import HOSTILE, VARIANTS, GitlabCiLocal, Render, hostile_spec
from tests.gitlab.extract import gitlab_commands, resolve

SPEC_PATH = f"ml/{HOSTILE}/lepton.yaml"
TAG = "gpu $CI_COMMIT_SHA ${X} 'q' \"d\" `t` \\b"
# `$` references we write on purpose; everything else with a `$` must be a raw variable value
# (and the end anchor of a release-tag regex: `$CI_COMMIT_TAG =~ /^v.*$/`, and of the kill
# switch's `=~ /^(true|1|yes)$/i`)
OURS = re.compile(
    r"\$(CI_[A-Z_]+|LEPTON_[A-Z_]+_DISABLED|LEPTON_DEPLOY_URL|LEPTON_RUNNER_TAG_\d+|PATH)\b"
    r"|(?<= =~ /\^)[A-Za-z0-9_.*\\-]*\$/$"
    r"| =~ /\^\(true\|1\|yes\)\$/i"
)


def argv_of(line: str) -> list[str]:
    """The argv bash hands to `lepton-ci` for one script line."""
    shim = 'lepton-ci() { printf "%s\\0" "$@"; }\n'
    proc = subprocess.run(["bash", "-c", shim + line], capture_output=True, check=True, timeout=30)
    return proc.stdout.decode().split("\0")[:-1]


def strings_outside_variables(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if path == () and key == "variables":
                continue
            if key in ("script", "before_script", "spec_args"):
                continue  # shell text: GitLab never expands it; the shell test checks it
            out += strings_outside_variables(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            out += strings_outside_variables(item, path)
    elif isinstance(node, str):
        out.append((".".join(path), node))
    return out


@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_free_text_arrives_byte_exact(
    render: Render, library_root: Path, style: str, include: str
) -> None:
    out = render(hostile_spec(), style, include, SPEC_PATH)
    doc = yaml.safe_load(out.text)
    assert doc["variables"]["LEPTON_PROJECT"] == {"value": HOSTILE, "expand": False}

    config = resolve(out.text, library_root=library_root)
    raw = {name: v["value"] for name, v in doc["variables"].items() if not v.get("expand", True)}
    for job in out.pipeline.jobs:
        tags = config[job.name].get("tags", config["default"].get("tags"))
        # a tag with `$` is a reference to a raw variable holding it; others are literal
        shown = [raw[t[1:]] if t.startswith("$LEPTON_RUNNER_TAG_") else t for t in tags]
        assert shown == list(job.agent.tags)
        assert all("$" not in t or t.startswith("$LEPTON_RUNNER_TAG_") for t in tags)


@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_nothing_else_carries_a_dollar(render: Render, style: str, include: str) -> None:
    doc = yaml.safe_load(render(hostile_spec(), style, include, SPEC_PATH).text)
    for where, text in strings_outside_variables(doc):
        assert "`" not in text and "\n" not in text, where
        assert OURS.sub("", text).count("$") == 0, (where, text)
    for name, value in doc["variables"].items():
        assert value["expand"] is False, name


@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_the_shell_sees_the_spec_path_as_one_word(
    render: Render, library_root: Path, style: str, include: str
) -> None:
    out = render(hostile_spec(), style, include, SPEC_PATH)
    lines = gitlab_commands(out.text, library_root=library_root)
    assert lines, "no commands found"
    commands = out.pipeline.command_sequence()
    assert len(lines) == len(commands)
    for (job, line), (model_job, command) in zip(lines, commands, strict=True):
        assert job == model_job
        if command[0] == "lepton-ci":
            assert argv_of(line) == list(command[1:])


@pytest.mark.slow
@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_gitlab_ci_local_accepts_the_hostile_file(
    render: Render, gitlab_ci_local: GitlabCiLocal, style: str, include: str
) -> None:
    out = render(hostile_spec(), style, include, SPEC_PATH)
    gitlab_ci_local.write(out.text)
    assert list(gitlab_ci_local.jobs()) == list(out.pipeline.stages)


def psych_load(text: str) -> Any:
    """The document as Ruby Psych (the YAML parser GitLab itself runs) reads it, via JSON."""
    if shutil.which("ruby") is None:
        pytest.fail("ruby (Psych, GitLab's YAML parser) is needed: run `bash .ci/setup`")
    script = "require 'yaml'; require 'json'; print JSON.generate(YAML.safe_load($stdin.read))"
    proc = subprocess.run(
        ["ruby", "-e", script], input=text.encode(), capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


# Line breaks only some parsers see: NEL (YAML 1.1, Psych), the line and paragraph separators
BREAKS = ["\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("style", ["standalone", "library"])
@pytest.mark.parametrize("brk", BREAKS, ids=["nel", "line-sep", "para-sep"])
def test_a_unicode_line_break_adds_no_job_for_gitlab(render: Render, style: str, brk: str) -> None:
    """A project name or spec path with a break Psych honours must not start a YAML line of its
    own (`pwned_job: ...`) in a comment or a value: GitLab would run it."""
    attack = f"x{brk}pwned_job: {{script: [id]}}{brk}y"
    spec = hostile_spec().replace(json.dumps(HOSTILE), json.dumps(attack))
    out = render(spec, style, "component", f"ml/{attack}/lepton.yaml")
    header = GeneratedFile(".gitlab-ci.yml", out.text, "#", f"ml/{attack}/lepton.yaml").content
    doc = psych_load(header)
    assert "pwned_job" not in doc
    assert doc == yaml.safe_load(header)
    assert doc["variables"]["LEPTON_PROJECT"] == {"value": attack, "expand": False}


@pytest.mark.parametrize("style", ["standalone", "library"])
def test_any_unicode_name_reads_the_same_in_psych(render: Render, style: str) -> None:
    """Emoji, accents, a byte-order mark and C1 controls: Psych and PyYAML agree, byte-exact."""
    name = "Modèle 😀 \ufeff\x9b\x7f ünïcode"
    literal = json.dumps(name, ensure_ascii=False).replace("\x9b", "\\x9b").replace("\x7f", "\\x7f")
    out = render(hostile_spec().replace(json.dumps(HOSTILE), literal), style)
    doc = psych_load(out.text)
    assert doc == yaml.safe_load(out.text)
    assert doc["variables"]["LEPTON_PROJECT"]["value"] == name
