"""Files of the shared libraries generated from the step table.

python -m lepton_ci.pipeline.codegen   # from the repository root: rewrites every GENERATED file

``LeptonSteps`` holds what the Groovy side would otherwise write down again: step kinds and
titles, argv words, needs, artifacts, kill switches, credential variables, the release-tag
default and glob, the retry limit. A test in the suite fails when the committed file is stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from lepton_ci.pipeline.model import SWITCH_ON_VALUES
from lepton_ci.pipeline.steps import (
    CREDENTIAL_VARIABLES,
    IMAGELESS_TARGETS,
    PROMOTE_WORDS,
    REPORT_NAME,
    STEP_TABLE,
    TARGET_CREDENTIALS,
    StepRow,
    disabled_by,
    steps,
)
from lepton_ci.spec.loader import SPEC_FILENAME
from lepton_ci.spec.model import TAG_GLOB, CISpec, ProjectSpec

GROOVY_FILE = "jenkins/src/io/leptonci/LeptonSteps.groovy"
"""Where the generated class lives, relative to the repository root."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDENT = "    "
_WIDTH = 110  # npm-groovy-lint's LineLength allows 120


def _str(value: str | None) -> str:
    """A single-quoted Groovy string (nothing interpolated), or ``null``."""
    if value is None:
        return "null"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _key(key: str) -> str:
    return key if _IDENTIFIER.fullmatch(key) else _str(key)


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_str(v) for v in values) + "]"


def _entry(head: str, value: Any, tail: str, depth: int) -> list[str]:
    """``head value tail`` on one line, or a list value one item a line when too long."""
    indent = _INDENT * depth
    if not isinstance(value, tuple | list):
        return [f"{indent}{head}{_str(value)}{tail}"]
    line = f"{indent}{head}{_list(value)}{tail}"
    if len(line) <= _WIDTH:
        return [line]
    items = [f"{indent}{_INDENT}{_str(v)}," for v in value]
    return [f"{indent}{head}[", *items, f"{indent}]{tail}"]


# Collections.unmodifiableList/Map, not Groovy's asImmutable(): script-security's generic-whitelist
# allows both of those, but asImmutable only for a Map (jenkinsci/script-security-plugin a5f0130,
# sandbox/whitelists/generic-whitelist), and a folder-level library runs in the sandbox.
def _map(name: str, kind: str, doc: str, entries: Mapping[str, Any]) -> list[str]:
    head = f"{_INDENT}static final Map<String, {kind}> {name} = Collections.unmodifiableMap(["
    lines = [f"{_INDENT}/** {doc} */", head]
    for key, value in entries.items():
        lines += _entry(f"{_key(key)}: ", value, ",", 2)
    return [*lines, f"{_INDENT}])", ""]


def _field(doc: str, declaration: str, value: Any) -> list[str]:
    """A documented ``static final`` field."""
    listed = isinstance(value, tuple | list)
    head = f"static final {declaration} = " + ("Collections.unmodifiableList(" if listed else "")
    return [f"{_INDENT}/** {doc} */", *_entry(head, value, ")" if listed else "", 1), ""]


def _retry_limit() -> int:
    """The largest ``ci.retry`` the spec allows (its ``le`` bound)."""
    for meta in CISpec.model_fields["retry"].metadata:
        if getattr(meta, "le", None) is not None:
            return int(meta.le)
    raise ValueError("ci.retry has no upper bound")


def groovy_constants(table: tuple[StepRow, ...] = STEP_TABLE) -> str:
    """The text of ``LeptonSteps.groovy`` for ``table``."""
    release_default = ProjectSpec.model_fields["release_tags"].default
    glob = TAG_GLOB.removeprefix("^").removesuffix("$")
    lines = [
        "package io.leptonci",
        "",
        "/**",
        " * The lifecycle's constants: generated from lepton-ci's step table",
        " * (lepton_ci/pipeline/steps.py) by `python -m lepton_ci.pipeline.codegen`. Do not edit:",
        " * change the table and regenerate; a test keeps this file in sync.",
        " */",
        "class LeptonSteps implements Serializable {",
        "",
    ]
    per_step: list[tuple[str, str, str, Callable[[StepRow], Any]]] = [
        ("TITLES", "String", "Stage title of each step kind; {env}: the environment's name.",
         lambda r: r.title),
        ("WORDS", "List<String>",
         "Argv after `lepton-ci` ({junit}: the JUnit path, {env}: the environment).",
         lambda r: r.words),
        ("NEEDS", "List<String>",
         "Jobs whose artifacts each step kind needs; a deploy also needs the previous deploy.",
         lambda r: r.needs),
        ("AFTER", "List<String>",
         "Jobs whose artifacts each step kind takes where they ran in this build (none else).",
         lambda r: r.after),
        ("ARTIFACTS", "List<String>", "Layout keys (layout.properties) each step kind hands on.",
         lambda r: r.artifacts),
        ("KILL_SWITCHES", "String", "The variable that skips each step kind when true, 1 or yes.",
         lambda r: r.kill_switch),
        ("DISABLED_BY", "List<String>",
         "Kill switches that skip a step kind: its own, then those of every step it needs.",
         lambda r: disabled_by(r.step, table)),
    ]  # fmt: skip
    maps: list[tuple[str, str, str, Mapping[str, Any]]] = [
        (name, kind, doc, {r.step: value(r) for r in table}) for name, kind, doc, value in per_step
    ]
    maps += [
        ("CREDENTIAL_VARIABLES", "List<String>",
         "Variables each credential is bound to: user and password, or the file's path.",
         {str(k): v for k, v in CREDENTIAL_VARIABLES.items()}),
        ("TARGET_CREDENTIALS", "String", "The credential a deploy binds, by target (null: none).",
         dict(TARGET_CREDENTIALS)),
    ]  # fmt: skip
    fields: list[tuple[str, str, Any]] = [
        ("Step kinds in pipeline order.", "List<String> STEPS", steps(table)),
        ("Deploy targets that need no image (the model runs from the run directory).",
         "List<String> IMAGELESS_TARGETS", IMAGELESS_TARGETS),
        ("Argv after `lepton-ci` that promotes the shipped version.",
         "List<String> PROMOTE_WORDS", PROMOTE_WORDS),
        ("Values that turn a kill switch on, in any case.",
         "List<String> SWITCH_ON_VALUES", SWITCH_ON_VALUES),
        ("Release-tag glob when none is given (project.release_tags).",
         "String RELEASE_TAGS_DEFAULT", release_default),
        ("What a release-tag glob may hold, as a whole-string regex (TAG_GLOB).",
         "String TAG_GLOB", glob),
        ("The spec file `--spec PATH` is left out for.", "String DEFAULT_SPEC", SPEC_FILENAME),
        ("Name of the published HTML report (publishHTML reportName; GitLab's expose_as).",
         "String REPORT_NAME", REPORT_NAME),
    ]  # fmt: skip
    lines += _field(*fields[0])
    for entry in maps:
        lines += _map(*entry)
    for field in fields[1:]:
        lines += _field(*field)
    lines += [
        f"{_INDENT}/** Most reruns after a lost agent (ci.retry). */",
        f"{_INDENT}static final int MAX_RETRY = {_retry_limit()}",
        "",
        f"{_INDENT}private static final long serialVersionUID = 1L",
        "",
        "}",
    ]
    return "\n".join(lines) + "\n"


def generated() -> dict[str, str]:
    """Every generated file of the repository: path (from its root) -> text."""
    from lepton_ci.pipeline.gitlab_include import INCLUDE_FILE, gitlab_components, gitlab_include

    return {GROOVY_FILE: groovy_constants(), INCLUDE_FILE: gitlab_include(), **gitlab_components()}


def main(root: Path = Path(".")) -> None:
    for path, text in generated().items():
        (root / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
