"""Spec values full of Groovy and shell metacharacters neither break the Jenkinsfile nor run.

The payload (quotes, `$`, `${env.X}`, `${"${x}"}`, backticks, backslashes, newlines, a
`${new File(...).write(...)}` expression) goes into the project name, an agent label, the
approvers and the spec path; Groovy evaluation must hand each back byte for byte.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from lepton_ci.pipeline.model import shell_line
from lepton_ci.render.escape import FILTERS, environment, groovy_bool, groovy_map
from lepton_ci.render.outputs import generated_files
from lepton_ci.spec.loader import parse_spec
from tests.jenkins.conftest import SPECS, STYLES, hostile, payload


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


GROOVY_24_LIB = Path("/usr/share/groovy/lib")  # Debian `groovy`: the 2.4 line Jenkins runs


@pytest.mark.parametrize("style_name", STYLES)
def test_a_unicode_escape_cannot_end_a_comment_under_jenkins_groovy(
    style_name: str, tmp_path: Path
) -> None:
    """Groovy 2.4 expands `\\uXXXX` before it lexes, even inside `//` comments: `\\u000a` in the
    project name or the spec path would end the comment and run what follows. Every comment
    line of the generated Jenkinsfile is run by Groovy 2.4 itself; nothing may execute."""
    if shutil.which("java") is None or not any(GROOVY_24_LIB.glob("groovy-2.4*.jar")):
        pytest.fail("java and Debian's groovy (2.4) are needed: run `bash .ci/setup`")
    marker = tmp_path / "pwned"
    attack = f"x \\u000a new File('{marker}').write('pwned') //"
    spec = parse_spec(SPECS["full"].replace("name: Digits CNN", f"name: {json.dumps(attack)}"))
    files = generated_files(spec, f"ml/{attack}/lepton.yaml", style=style_name)
    [jenkinsfile] = [f.content for f in files if f.path == "Jenkinsfile"]
    comments = [line for line in jenkinsfile.splitlines() if line.lstrip().startswith("//")]
    assert any("000a" in line for line in comments), "the attack must reach a comment"
    script = tmp_path / "comments.groovy"
    script.write_text("\n".join(comments) + "\nprintln 'END'\n")
    run = subprocess.run(
        ["java", "-cp", f"{GROOVY_24_LIB}/*", "groovy.ui.GroovyMain", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and run.stdout.strip() == "END", run.stderr[-2000:]
    assert not marker.exists(), "a comment in the Jenkinsfile ran as Groovy"


@pytest.mark.parametrize("value", ["false", "true", "", 0, 1, None])
def test_a_groovy_boolean_is_only_ever_written_from_a_bool(value: object) -> None:
    """In Groovy the string 'false' is truthy (the bug that once skipped every stage), so the
    filter refuses anything but a real bool rather than guess."""
    with pytest.raises(ValueError, match="is not a bool"):
        groovy_bool(value)
    assert (groovy_bool(True), groovy_bool(False)) == ("true", "false")


def test_every_template_filter_is_registered_in_one_place() -> None:
    """The Dockerfile's filters live in the same registry as the Groovy and YAML ones."""
    assert {"docker_str", "docker_json", "sh_words", "groovy_bool"} <= set(FILTERS)
    assert set(FILTERS) <= set(environment().filters)


def test_a_groovy_map_escapes_its_values_and_quotes_keys_that_are_no_identifier() -> None:
    entries = {"label": "gpu && it's", "image": None, "odd key": ["a", 1, True], "n": {}}
    assert groovy_map(entries) == ("[label: 'gpu && it\\'s', 'odd key': ['a', 1, true], n: [:]]")
    assert groovy_map({}) == "[:]"
