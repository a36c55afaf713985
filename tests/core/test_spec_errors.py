"""lepton.yaml errors name the file, line, column, field, bad value and what is allowed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode, SpecError
from lepton_ci.spec import load_spec, parse_spec
from lepton_ci.spec.model import GateSpec

VALID = """\
project:
  name: Digits CNN
train:
  entrypoint: digits.train:train
evaluate:
  entrypoint: digits.evaluate:evaluate
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(textwrap.dedent(text), "lepton.yaml")
    assert info.value.exit_code == ExitCode.SPEC
    return [p.render("lepton.yaml") for p in info.value.problems]


def test_a_minimal_spec_is_valid_and_fills_defaults() -> None:
    spec = parse_spec(VALID)
    assert spec.model_name == "digits-cnn"
    assert spec.project.default_branch == "main"
    assert spec.image.registry == "127.0.0.1:5000"
    assert spec.ci.style == "standalone"


def test_unknown_key_names_line_column_and_suggests_the_right_one() -> None:
    (msg,) = problems(VALID + "shedule:\n  retrain: '0 3 * * 1'\n")
    assert msg.startswith("lepton.yaml:7:1: shedule: unknown key 'shedule'")
    assert "did you mean 'schedule'?" in msg


def test_nested_unknown_key_lists_the_allowed_keys_at_that_level() -> None:
    (msg,) = problems(VALID.replace("  name: Digits CNN", "  name: x\n  defualt_branch: main"))
    assert "lepton.yaml:3:3: project.defualt_branch" in msg
    assert "allowed keys: default_branch, model, name" in msg
    assert "did you mean 'default_branch'?" in msg


def test_bad_enum_value_lists_allowed_values_and_the_bad_value() -> None:
    (msg,) = problems(
        VALID + "deploy:\n  environments:\n    - name: staging\n      target: dokcer\n"
    )
    assert msg.startswith("lepton.yaml:10:15: deploy.environments[0].target:")
    assert "'docker', 'kubernetes' or 'local'" in msg and "(got 'dokcer')" in msg


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("version: true\n" + VALID, "lepton.yaml:1:10: version"),
        (VALID.replace("  entrypoint: digits.train:train", "  entrypoint: d.t:t\n  seed: True"),
         "lepton.yaml:5:9: train.seed"),
        (VALID + "serve:\n  workers: false\n", "lepton.yaml:8:12: serve.workers"),
    ],
)  # fmt: skip
def test_true_or_false_is_no_number(text: str, where: str) -> None:
    """Pydantic alone would read `true` as 1: `version: true` passed validation."""
    (msg,) = problems(text)
    assert msg.startswith(where) and "expected a number, not true/false" in msg


def test_pattern_errors_say_in_words_what_is_allowed() -> None:
    (msg,) = problems(VALID.replace("digits.evaluate:evaluate", "'not an entrypoint'"))
    assert "evaluate.entrypoint: must be a Python callable written `package.module:function`" in msg


def test_every_problem_is_reported_at_once() -> None:
    text = VALID.replace("digits.train:train", "x y") + "gates: ['accuracy is great']\n"
    assert len(problems(text)) == 2


def test_missing_required_section_is_reported() -> None:
    (msg,) = problems("project: {name: x}\ntrain: {command: python train.py}\n")
    assert "evaluate: required field is missing" in msg


def test_exactly_one_of_entrypoint_or_command() -> None:
    (msg,) = problems(VALID.replace("  entrypoint: digits.train:train", "  params: {}"))
    assert "train: give exactly one of `entrypoint` or `command`" in msg


def test_yaml_syntax_errors_are_located() -> None:
    (msg,) = problems("project:\n  name: [unclosed\n")
    assert msg.startswith("lepton.yaml:3:") and "invalid YAML" in msg


def test_duplicate_keys_are_errors_not_silently_merged() -> None:
    (msg,) = problems(VALID + "project:\n  name: again\n")
    assert "invalid YAML" in msg and "project" in msg


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "lepton.yaml")
    assert "file not found" in str(info.value) and "lepton-ci init" in str(info.value)


@pytest.mark.parametrize(
    ("text", "threshold", "delta"),
    [
        ("accuracy >= 0.95", 0.95, None),
        ("accuracy >= champion - 0.005", None, -0.005),
        ("loss <= champion + 0.1", None, 0.1),
        ("macro_f1>champion", None, 0.0),
    ],
)
def test_gates_read_absolute_and_champion_relative_forms(
    text: str, threshold: float | None, delta: float | None
) -> None:
    gate = GateSpec.model_validate(text)
    assert gate.threshold == threshold and gate.champion_delta == delta
    assert GateSpec.model_validate(gate.label).model_dump() == gate.model_dump()


def test_significance_is_only_for_champion_gates() -> None:
    text = VALID + "gates:\n  - {metric: accuracy, op: '>=', threshold: 0.9, significant: true}\n"
    (msg,) = problems(text)
    assert "`significant` applies only to gates relative to the champion" in msg


def test_environment_names_must_be_unique() -> None:
    text = VALID + "deploy:\n  environments:\n    - {name: staging}\n    - {name: staging}\n"
    (msg,) = problems(text)
    assert "environment 'staging' is defined twice" in msg


def test_an_oversized_spec_is_refused_before_it_is_parsed() -> None:
    (msg,) = problems(VALID + "# padding\n" * 120_000)
    assert msg.startswith("lepton.yaml:1: the spec is 1200") and "at most 1048576" in msg


def test_an_alias_bomb_is_refused_at_its_anchor_without_expanding_it() -> None:
    """A kilobyte of nested aliases would expand to 9**6 values while it is validated."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 6)
    ]
    text = "\n".join(levels) + "\n" + VALID + "image: {pip: *a5}\n"
    (msg,) = problems(text)
    assert msg.startswith("lepton.yaml:6:5: the aliases of &a5 expand the spec beyond 100000")
    assert "hint: write the values out" in msg


def test_a_few_aliases_are_still_fine() -> None:
    spec = parse_spec(VALID + "agents: {train: {label: &gpu gpu}, evaluate: {label: *gpu}}\n")
    assert spec.agents.train.label == spec.agents.evaluate.label == "gpu"


def test_nesting_too_deep_for_the_parser_is_a_spec_error() -> None:
    (msg,) = problems("gates: " + "[" * 300 + "]" * 300 + "\n")
    assert msg == "lepton.yaml:1: invalid YAML: nested too deeply"


def test_a_promotion_path_has_at_most_twenty_environments() -> None:
    """Render once died of a RecursionError at 1,000 environments; now the spec says why."""
    envs = "".join(f"    - {{name: env{i}}}\n" for i in range(21))
    (msg,) = problems(VALID + "deploy:\n  environments:\n" + envs)
    assert msg == (
        "lepton.yaml:9:5: deploy.environments: list should have at most 20 items after "
        "validation, not 21"
    )


def test_a_control_character_is_located_and_the_escape_suggested() -> None:
    """Found by the fuzzer (tests/core/test_fuzz.py): ruamel reports these by offset only."""
    (msg,) = problems(VALID + 'serve: {workers: 1}\nx: "a\x1fb"\n')
    assert msg == (
        "lepton.yaml:8:6: invalid YAML: character U+001F is not allowed in YAML\n"
        '    hint: write it as the escape "\\u001F" inside a double-quoted string'
    )
