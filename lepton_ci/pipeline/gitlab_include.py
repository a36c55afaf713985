"""GitLab's library files, generated from the step table: the include template's hidden jobs
(``gitlab/include/lepton.gitlab-ci.yml``, one ``.lepton-<step>`` per row) and one CI/CD component
per row (``gitlab/templates/<step>.yml``), each with its stage, needs, command, artifacts,
reports, resource group and rules (the kill switches of ``disabled_by`` first).

Written by ``python -m lepton_ci.pipeline.codegen``; a test fails when the committed file is stale.
What only GitLab has is decided here: a per-environment step takes its environment from
``$CI_ENVIRONMENT_NAME``, names no resource group (the caller gives one per environment) and
does not allow failure (a manual approval would otherwise let the pipeline pass without it).
"""

from __future__ import annotations

from lepton_ci.layout import RunLayout
from lepton_ci.pipeline.model import SWITCH_ON_REGEX
from lepton_ci.pipeline.steps import PATHS, REPORT_NAME, STEP_TABLE, StepRow, disabled_by

INCLUDE_FILE = "gitlab/include/lepton.gitlab-ci.yml"
ENV = "$CI_ENVIRONMENT_NAME"
SPEC_ARGS = "$[[ inputs.spec_args ]]"
TAG_RULE = "$CI_COMMIT_TAG =~ /$[[ inputs.release_tags ]]/"

HEADER = """\
# lepton-ci include template: hidden jobs to `extends:` from your .gitlab-ci.yml.
#
#   include:
#     - project: lepton-ci/lepton-ci      # this gitlab/ folder, published as a project
#       ref: v0.1.0                        # pin a release tag
#       file: /include/lepton.gitlab-ci.yml
#   train:
#     extends: .lepton-train
#
# Generated from lepton-ci's step table (lepton_ci/pipeline/steps.py) by
# `python -m lepton_ci.pipeline.codegen`: do not edit, change the table and regenerate.
#
# Jobs are named after their step, because `needs:` refers to those names:
#   {steps}
# Deploy jobs are yours to name, one per environment, with `environment:`, `stage:` and `needs:`.
# Setup (the pinned lepton-ci on PATH) goes into each of those jobs, never `default:`; nothing
# here uses before_script (`lepton-ci render` writes it).
# Kill switch per step: LEPTON_<STEP>_DISABLED=true (or 1, yes; e.g. LEPTON_DEPLOY_DISABLED) skips
# it and every step that needs it.
spec:
  inputs:
    spec_args:
      type: string
      default: ""
      description: "Appended to every lepton-ci command: shell-quoted words, each after a space (e.g. ` --spec models/a/lepton.yaml`). `lepton-ci render` fills it in."
    retry:
      type: number
      default: 1
      description: "Retries after a runner failure (0-2); a failing step or gate is never retried."
    default_branch:
      type: string
      default: "main"
      description: "The default branch: its pipelines register, build, push and deploy; scheduled pipelines run on it only."
    release_tags:
      type: string
      default: "^v.*$"
      regex: ^\\^[A-Za-z0-9_.*\\\\-]*\\$$
      description: "Anchored regex of the git tags whose pipelines run this job (lepton.yaml's `project.release_tags` as `lepton-ci render` writes it, e.g. `^v.*$` for `v*`)."
---
.lepton-defaults:
  interruptible: true
  retry:
    max: $[[ inputs.retry ]]
    when: [runner_system_failure, stuck_or_timeout_failure, scheduler_failure, api_failure]
"""  # noqa: E501 (the inputs' descriptions are one YAML line each)

PER_ENVIRONMENT_NOTE = """\
# Deploys to the job's `environment:` (give it one); add `when: manual` to your rules for an
# approval that blocks the pipeline, and a resource_group per environment.
"""

POSITIVE_RULES = {
    "everywhere": (
        '$CI_PIPELINE_SOURCE == "schedule"',
        '$CI_PIPELINE_SOURCE == "merge_request_event"',
        "$CI_COMMIT_BRANCH",
        TAG_RULE,
    ),
    "mainline": (  # a schedule on another branch must never register or deploy
        '$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == "$[[ inputs.default_branch ]]"',
        '$CI_COMMIT_BRANCH == "$[[ inputs.default_branch ]]"',
        TAG_RULE,
    ),
}
POSITIVE_RULES["always"] = POSITIVE_RULES["everywhere"]


def _body(row: StepRow, table: tuple[StepRow, ...], component: bool) -> list[str]:
    """A job's keys after ``needs:``: script, artifacts, environment, resource group, rules.

    ``component``: the CI/CD component's job, which takes the environment, resource group and
    ``when`` as inputs; else the include template's hidden job.
    """
    layout = RunLayout()
    env = "$[[ inputs.environment ]]" if component else ENV
    env_word = env if component else f'"{ENV}"'

    def path(key: str) -> str:
        return str(PATHS[key](layout, env if row.per_environment else ""))

    words = [w.replace("{junit}", str(layout.junit)).replace("{env}", env_word) for w in row.words]
    lines = ["  script:", f"    - lepton-ci {' '.join(words)}{SPEC_ARGS}"]
    paths = [path(k) for k in row.artifacts] + ([path(row.html)] if row.html else [])
    if paths or row.junit or row.dotenv or row.metrics:
        lines.append("  artifacts:")
        if row.html:
            lines.append(f"    expose_as: {REPORT_NAME}")
        if paths:
            lines.append(f"    paths: [{', '.join(paths)}]")
        if row.junit or row.dotenv or row.metrics:
            lines.append("    reports:")
            lines += [f"      junit: {path(row.junit)}"] if row.junit else []
            lines += [f"      dotenv: {path(row.dotenv)}"] if row.dotenv else []
            lines += [f"      metrics: {path(row.metrics)}"] if row.metrics else []
        lines.append("    expire_in: 30 days")
        if row.junit:
            lines.append("    when: always")  # the JUnit report of a failed gate is the point
    if component and row.per_environment:
        lines += ["  environment:", f"    name: {env}", "    deployment_tier: $[[ inputs.tier ]]"]
        lines.append("    url: $[[ inputs.url ]]")
    if component and row.resource_group:
        lines.append("  resource_group: $[[ inputs.resource_group ]]")
    elif row.resource_group and "{env}" not in row.resource_group:
        lines.append(f"  resource_group: {_resource_group(row)}")
    if not row.interruptible:
        lines.append("  interruptible: false")
    if row.per_environment:
        lines.append("  allow_failure: false")
    switches = " || ".join(f"${s} =~ {SWITCH_ON_REGEX}" for s in disabled_by(row.step, table))
    lines += ["  rules:", f"    - if: '{switches}'", "      when: never"]
    when = "always" if row.rule == "always" else None
    if component and row.per_environment:
        when = "$[[ inputs.when ]]"
    for condition in POSITIVE_RULES[row.rule]:
        lines.append(f"    - if: {condition}")
        lines += [f"      when: {when}"] if when else []
    return lines


def _resource_group(row: StepRow) -> str:
    """The default resource group: the row's, without the model and environment parts."""
    return (row.resource_group or "").replace("-{model}", "").replace("-{env}", "")


def _needs(row: StepRow) -> str:
    """The ``needs:`` entries of a row's job, flow style (``after``: optional needs)."""
    needs = [f"{{job: {n}, artifacts: true}}" for n in row.needs]
    needs += [f"{{job: {n}, artifacts: true, optional: true}}" for n in row.after]
    return ", ".join(needs)


def _hidden_job(row: StepRow, table: tuple[StepRow, ...]) -> list[str]:
    needs = _needs(row)
    lines = [f".lepton-{row.step}:", "  extends: .lepton-defaults", f"  stage: {row.step}"]
    return [*lines, f"  needs: [{needs}]", *_body(row, table, component=False)]


def gitlab_include(table: tuple[StepRow, ...] = STEP_TABLE) -> str:
    """The text of the include template for ``table``."""
    named = ", ".join(r.step for r in table if not r.per_environment)
    out = [HEADER.format(steps=named)]
    for row in table:
        out.append("\n" + (PER_ENVIRONMENT_NOTE if row.per_environment else ""))
        out.append("\n".join(_hidden_job(row, table)) + "\n")
    return "".join(out)


COMPONENTS_DIR = "gitlab/templates"

COMPONENT_HEADER = """\
# lepton-ci CI/CD component `{step}`: {summary}
# Usage and inputs: README.md. Setup (the pinned lepton-ci on PATH) is added to this job by the
# file `lepton-ci render` writes (before_script, pip cache); this component adds no before_script.
# Kill switch: set ${switch} (or that of a step it needs) to true, 1 or yes to skip the job.
# Generated from lepton-ci's step table by `python -m lepton_ci.pipeline.codegen`: do not edit.
spec:
  inputs:
"""

SPEC_ARGS_INPUT = (
    "spec_args",
    "string",
    '""',
    "Appended to every lepton-ci command: shell-quoted words, each after a space (e.g. "
    "` --spec models/a/lepton.yaml`). `lepton-ci render` fills it in.",
)
RETRY_INPUT = (
    "retry",
    "number",
    "1",
    "Retries after a runner failure (0-2); a failing step or gate is never retried.",
)
BRANCH_INPUT = (
    "default_branch",
    "string",
    '"main"',
    "The default branch: its pipelines register, build, push and deploy; scheduled pipelines"
    " run on it only.",
)
ENVIRONMENT_INPUTS = (
    (
        "environment",
        "string",
        '"staging"',
        "Environment name from lepton.yaml's deploy.environments.",
    ),
    ("tier", "string", '"staging"', "GitLab deployment tier of the environment."),
    (
        "url",
        "string",
        '"$LEPTON_DEPLOY_URL"',
        "Environment URL; by default the one `lepton-ci deploy` reports in its dotenv.",
    ),
    (
        "when",
        "string",
        '"on_success"',
        "`manual` makes the pipeline wait for an approval (it blocks, it does not skip).",
    ),
)
INPUT_EXTRAS = {
    "environment": "      regex: ^[a-z][a-z0-9-]{0,30}$",
    "tier": "      options: [production, staging, testing, development, other]",
    "when": "      options: [on_success, manual]",
    "release_tags": "      regex: ^\\^[A-Za-z0-9_.*\\\\-]*\\$$",
}
RESOURCE_GROUP_HELP = {
    True: "Resource group serialising deployments; use one per environment.",
    False: "Resource group serialising registry writes of this model.",
}
TAGS_INPUT = (
    "release_tags",
    "string",
    '"^v.*$"',
    "Anchored regex of the git tags whose pipelines run this job (lepton.yaml's "
    "`project.release_tags` as `lepton-ci render` writes it, e.g. `^v.*$` for `v*`).",
)


RETRY_WHEN_LINE = (
    "    when: [runner_system_failure, stuck_or_timeout_failure, scheduler_failure, api_failure]\n"
)


def _input(name: str, kind: str, default: str, description: str) -> list[str]:
    lines = [f"    {name}:", f"      type: {kind}", f"      default: {default}"]
    lines += [INPUT_EXTRAS[name]] if name in INPUT_EXTRAS else []
    return [*lines, f'      description: "{description}"']


def gitlab_component(row: StepRow, table: tuple[StepRow, ...] = STEP_TABLE) -> str:
    """The text of the CI/CD component of ``row`` (``gitlab/templates/<step>.yml``)."""
    name_help = (
        f"Name of the job, e.g. {row.step}-staging (one per environment)."
        if row.per_environment
        else "Name of the job (instantiate the component twice with different names)."
    )
    needs = _needs(row)
    inputs = [
        ("job_name", "string", f'"{row.step}"', name_help),
        (
            "stage",
            "string",
            f'"{row.step}"',
            "Stage the job runs in; it must be listed in your `stages:`.",
        ),
        SPEC_ARGS_INPUT,
        RETRY_INPUT,
        (
            "needs",
            "array",
            f"[{needs}]",
            "Jobs whose artifacts this job reads (GitLab `needs:` entries).",
        ),
    ]
    if row.rule == "mainline":
        inputs.append(BRANCH_INPUT)
    if row.per_environment:
        inputs += ENVIRONMENT_INPUTS
    if row.resource_group:
        help_ = RESOURCE_GROUP_HELP[row.per_environment]
        inputs.append(("resource_group", "string", f'"{_resource_group(row)}"', help_))
    inputs.append(TAGS_INPUT)
    lines = [COMPONENT_HEADER.format(step=row.step, summary=row.summary, switch=row.kill_switch)]
    lines += ["\n".join(line for i in inputs for line in _input(*i)) + "\n"]
    lines += [
        "---\n",
        '".lepton-$[[ inputs.job_name ]]-defaults":\n',
        "  interruptible: true\n",
        "  retry:\n",
        "    max: $[[ inputs.retry ]]\n",
        RETRY_WHEN_LINE,
        "\n",
        '"$[[ inputs.job_name ]]":\n',
        '  extends: ".lepton-$[[ inputs.job_name ]]-defaults"\n',
        "  stage: $[[ inputs.stage ]]\n",
        "  needs: $[[ inputs.needs ]]\n",
    ]
    lines.append("\n".join(_body(row, table, component=True)) + "\n")
    return "".join(lines)


def gitlab_components(table: tuple[StepRow, ...] = STEP_TABLE) -> dict[str, str]:
    """Every component file: path (from the repository root) -> text."""
    return {f"{COMPONENTS_DIR}/{row.step}.yml": gitlab_component(row, table) for row in table}
