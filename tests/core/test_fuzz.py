"""A fuzzer over lepton.yaml, judged by the parsers GitLab and Jenkins themselves run.

Hypothesis writes specs with hostile text wherever the spec takes free text (line breaks only
some YAML parsers see, Groovy's ``\\u000a``, quotes, ``$``/``${…}``, backticks, backslashes,
newlines, a YAML job and a Groovy statement that write a marker) and random values wherever it
takes anything. For each spec:

- ``parse_spec`` gives a :class:`Spec` or a :class:`SpecError` whose every problem names a line
  — never another exception;
- a valid spec renders every file in both CI styles, or fails with a :class:`LeptonError`.

The rendered files are then judged in one batch (one process per judge, so the fuzzer stays
bounded): every YAML file read by Ruby Psych (GitLab's parser) is the document PyYAML and
ruamel read, with no key a payload smuggled in; every Jenkinsfile compiles under Groovy 2.4
(the line Jenkins runs) and its comment lines, run as Groovy 2.4, execute nothing.

``LEPTON_FUZZ_EXAMPLES`` sets the number of specs (default 120, derandomized, so CI runs the
same examples every time; a larger number explores further).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from lepton_ci.errors import LeptonError, SpecError
from lepton_ci.render.outputs import generated_files
from lepton_ci.spec.loader import parse_spec

EXAMPLES = int(os.environ.get("LEPTON_FUZZ_EXAMPLES", "120"))
GROOVY_24_LIB = Path("/usr/share/groovy/lib")  # Debian `groovy`: the 2.4 line Jenkins runs
STYLES = ("standalone", "library")

BASE: dict[str, Any] = {
    "version": 1,
    "project": {"name": "Digits CNN"},
    "train": {"command": "python train.py --epochs 1"},
    "evaluate": {"command": "python eval.py"},
    "gates": ["accuracy >= 0.9", "accuracy >= champion - 0.005"],
    "deploy": {
        "environments": [
            {"name": "staging"},
            {"name": "production", "approval": True, "approvers": ["alice", "ops-team"]},
        ]
    },
    "schedule": {"retrain": "0 3 * * 1"},
    "agents": {"default": {"label": "gpu"}},
    "ci": {"platforms": ["jenkins", "gitlab"]},
}

#: where free text lands in the generated files (comments, titles, labels, commands, approvers)
TEXT_FIELDS: tuple[tuple[str | int, ...], ...] = (
    ("project", "name"),
    ("agents", "default", "label"),
    ("train", "command"),
    ("evaluate", "command"),
    ("deploy", "environments", 1, "approvers", 0),
)


def payloads(marker: Path) -> list[str]:
    """Fragments that break or run code wherever a value is not escaped for its language."""
    return [
        "\u2028pwned_job: {script: [id]}\u2028",
        "\u2029",
        "\x85",
        "\ufeff",
        "\x00",
        "\x1b",
        "\r",
        "\n",
        "\t",
        f"\\u000a new File('{marker}').write('pwned') //",
        "\\u002a/",
        "*/",
        "${new File('" + str(marker) + "').write('pwned')}",
        "'",
        '"',
        "\\",
        "$HOME",
        "${env.BRANCH_NAME}",
        "`id`",
        "$(id)",
        "#",
        ": ",
        "- ",
        "{",
        "}",
        "[",
        "]",
        "&a",
        "*a",
        "!!python/object:os.system",
        "%",
        "@",
        "🚀",
        "é",
    ]


def hostile_text(marker: Path) -> st.SearchStrategy[str]:
    pieces = st.sampled_from(payloads(marker)) | st.text(min_size=1, max_size=4)
    return st.lists(pieces, min_size=1, max_size=6).map("".join)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key path of a nested dict/list document, containers included."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def put(data: Any, path: tuple[str | int, ...], value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


@dataclass
class Batch:
    """What the fuzzer produced, for the judges."""

    valid: int = 0
    refused: int = 0
    yaml_files: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    jenkinsfiles: list[tuple[str, str]] = field(default_factory=list)


def spec_text(data: dict[str, Any], raw: str | None) -> str:
    """The document as a user might write it: JSON flow style (valid YAML), or a raw value."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=True)
    return text if raw is None else f'{text[:-1]}, "x-raw": {raw}}}'


def check_one(text: str, spec_path: str, batch: Batch) -> None:
    try:
        spec = parse_spec(text, "lepton.yaml")
    except SpecError as exc:
        unlocated = [p.render("lepton.yaml") for p in exc.problems if p.line is None]
        assert not unlocated, f"problems without a line for {text!r}: {unlocated}"
        batch.refused += 1
        return
    batch.valid += 1
    for style in STYLES:
        try:
            files = generated_files(spec, spec_path, style=style)
        except LeptonError:
            continue
        for generated in files:
            where = f"{style}:{generated.path} of {text!r} at {spec_path!r}"
            if generated.path.endswith((".yml", ".yaml")):
                batch.yaml_files.append((where, generated.content))
            elif generated.path == "Jenkinsfile":
                batch.jenkinsfiles.append((where, generated.content))


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "pwned"


@pytest.fixture(scope="module")
def fuzzed(marker: Path) -> Batch:
    batch = Batch()
    text = hostile_text(marker)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        where=st.sampled_from(TEXT_FIELDS),
        value=text,
        spec_path=st.sampled_from(["lepton.yaml", "ml/lepton.yaml"])
        | text.map(lambda t: f"{t}.yaml"),
        mutate=st.sampled_from([False, False, True]),  # a third of the specs get a random value
        replacement=VALUES,
        choice=st.integers(0, 10_000),
        raw=st.one_of(st.none(), st.none(), text),  # and a third a raw (unquoted) YAML value
    )
    def explore(
        where: tuple[str | int, ...],
        value: str,
        spec_path: str,
        mutate: bool,
        replacement: Any,
        choice: int,
        raw: str | None,
    ) -> None:
        data = json.loads(json.dumps(BASE))
        put(data, where, value)
        if mutate:
            candidates = paths(data)
            put(data, candidates[choice % len(candidates)], replacement)
        check_one(spec_text(data, raw), spec_path, batch)

    explore()
    return batch


def test_every_spec_validates_or_is_refused_with_located_problems(fuzzed: Batch) -> None:
    """The search reaches both sides: specs that render and specs the loader refuses."""
    print(
        f"{fuzzed.valid} specs rendered, {fuzzed.refused} refused with located problems; "
        f"{len(fuzzed.yaml_files)} YAML files and {len(fuzzed.jenkinsfiles)} Jenkinsfiles judged"
    )
    assert fuzzed.valid >= EXAMPLES // 10, fuzzed
    assert fuzzed.refused >= EXAMPLES // 10, fuzzed
    assert len(fuzzed.jenkinsfiles) >= fuzzed.valid  # at least one style rendered each


PSYCH = """
require 'yaml'; require 'json'
docs = JSON.parse($stdin.read).map do |text|
  begin
    {'ok' => YAML.safe_load(text, aliases: false)}
  rescue Exception => e
    {'error' => e.class.name + ': ' + e.message}
  end
end
print JSON.generate(docs)
"""


def keys(document: Any) -> list[str]:
    """Every mapping key of a document, at any depth."""
    if isinstance(document, dict):
        return [str(k) for k in document] + [k for v in document.values() for k in keys(v)]
    if isinstance(document, list):
        return [k for v in document for k in keys(v)]
    return []


def test_psych_reads_every_generated_yaml_file_as_the_other_parsers_do(fuzzed: Batch) -> None:
    if shutil.which("ruby") is None:
        pytest.fail("ruby (Psych, GitLab's YAML parser) is needed: run `bash .ci/setup`")
    texts = [text for _, text in fuzzed.yaml_files]
    proc = subprocess.run(
        ["ruby", "-e", PSYCH], input=json.dumps(texts).encode(), capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    ruamel = YAML(typ="safe", pure=True)
    for (where, text), psych in zip(fuzzed.yaml_files, json.loads(proc.stdout), strict=True):
        assert "ok" in psych, f"Psych refused {where}: {psych['error']}"
        documents = list(pyyaml.safe_load_all(text))
        assert len(documents) == 1 or text.startswith("---"), where
        assert psych["ok"] == json.loads(json.dumps(documents[0])), (
            f"Psych and PyYAML differ: {where}"
        )
        assert keys(psych["ok"]) == keys(ruamel.load(text)), f"Psych and ruamel differ: {where}"
        assert not any("pwned" in key for key in keys(psych["ok"])), f"a key was injected: {where}"


GROOVY_JUDGE = r"""
import groovy.json.JsonOutput
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
def results = args.collect { path ->
    def text = new File(path).getText('UTF-8')
    def comments = text.readLines().findAll { it.trim().startsWith('//') }.join('\n')
    def found = [path: path]
    try {
        new GroovyShell().evaluate(comments + '\nreturn "END"')
        found.comments = 'inert'
    } catch (Throwable e) {
        found.comments = e.toString()
    }
    try {
        def unit = new CompilationUnit()  // syntax and AST, without Jenkins' classes to resolve
        unit.addSource('Jenkinsfile', text)
        unit.compile(Phases.CONVERSION)
        found.compiles = true
    } catch (Throwable e) {
        found.compiles = e.toString()
    }
    found
}
println JsonOutput.toJson(results)
"""


def test_every_jenkinsfile_compiles_under_groovy_24_and_its_comments_run_nothing(
    fuzzed: Batch, marker: Path, tmp_path: Path
) -> None:
    if shutil.which("java") is None or not any(GROOVY_24_LIB.glob("groovy-2.4*.jar")):
        pytest.fail("java and Debian's groovy (2.4) are needed: run `bash .ci/setup`")
    files = []
    for index, (_, text) in enumerate(fuzzed.jenkinsfiles):
        path = tmp_path / f"Jenkinsfile.{index}"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    judge = tmp_path / "judge.groovy"
    judge.write_text(GROOVY_JUDGE)
    proc = subprocess.run(
        ["java", "-cp", f"{GROOVY_24_LIB}/*", "groovy.ui.GroovyMain", str(judge), *files],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists(), "a spec value ran as Groovy"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (where, _), result in zip(fuzzed.jenkinsfiles, results, strict=True):
        assert result["comments"] == "inert", f"{where}: {result['comments']}"
        assert result["compiles"] is True, f"{where}: {result['compiles']}"
