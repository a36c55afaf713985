"""The GitLab include template's hidden jobs (``gitlab/include/lepton.gitlab-ci.yml``), generated
from the step table: one ``.lepton-<step>`` job per row with its stage, needs, command,
artifacts, reports, resource group and rules (the kill switches of ``disabled_by`` first).

Written by ``python -m lepton_ci.pipeline.codegen``; a test fails when the committed file is stale.
What only GitLab has is decided here: a per-environment step takes its environment from
``$CI_ENVIRONMENT_NAME``, names no resource group (the caller gives one per environment) and
does not allow failure (a manual approval would otherwise let the pipeline pass without it).
"""

from __future__ import annotations

from lepton_ci.layout import RunLayout
from lepton_ci.pipeline.model import SWITCH_ON_REGEX
from lepton_ci.pipeline.steps import PATHS, STEP_TABLE, StepRow, disabled_by

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
# Setup (the pinned lepton-ci on PATH) belongs in your `default:`; nothing here uses before_script.
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
      description: "Branch whose pipelines register, build, push and deploy (besides scheduled ones)."
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
    "mainline": (
        '$CI_PIPELINE_SOURCE == "schedule"',
        '$CI_COMMIT_BRANCH == "$[[ inputs.default_branch ]]"',
        TAG_RULE,
    ),
}
POSITIVE_RULES["always"] = POSITIVE_RULES["everywhere"]


def _hidden_job(row: StepRow, table: tuple[StepRow, ...]) -> list[str]:
    layout = RunLayout()
    env = ENV if row.per_environment else ""

    def path(key: str) -> str:
        return str(PATHS[key](layout, env))

    words = [
        w.replace("{junit}", str(layout.junit)).replace("{env}", f'"{ENV}"') for w in row.words
    ]
    needs = ", ".join(f"{{job: {n}, artifacts: true}}" for n in row.needs)
    lines = [f".lepton-{row.step}:", "  extends: .lepton-defaults", f"  stage: {row.step}"]
    lines += [f"  needs: [{needs}]", "  script:", f"    - lepton-ci {' '.join(words)}{SPEC_ARGS}"]
    if row.artifacts or row.junit or row.dotenv:
        lines.append("  artifacts:")
        if row.artifacts:
            lines.append(f"    paths: [{', '.join(path(k) for k in row.artifacts)}]")
        if row.junit or row.dotenv:
            lines.append("    reports:")
            lines += [f"      junit: {path(row.junit)}"] if row.junit else []
            lines += [f"      dotenv: {path(row.dotenv)}"] if row.dotenv else []
        lines.append("    expire_in: 30 days")
        if row.junit:
            lines.append("    when: always")  # the JUnit report of a failed gate is the point
    if row.resource_group and "{env}" not in row.resource_group:
        lines.append(f"  resource_group: {row.resource_group.replace('-{model}', '')}")
    if not row.interruptible:
        lines.append("  interruptible: false")
    if row.per_environment:
        lines.append("  allow_failure: false")
    switches = " || ".join(f"${s} =~ {SWITCH_ON_REGEX}" for s in disabled_by(row.step, table))
    lines += ["  rules:", f"    - if: '{switches}'", "      when: never"]
    for condition in POSITIVE_RULES[row.rule]:
        lines.append(f"    - if: {condition}")
        if row.rule == "always":
            lines.append("      when: always")
    return lines


def gitlab_include(table: tuple[StepRow, ...] = STEP_TABLE) -> str:
    """The text of the include template for ``table``."""
    named = ", ".join(r.step for r in table if not r.per_environment)
    out = [HEADER.format(steps=named)]
    for row in table:
        out.append("\n" + (PER_ENVIRONMENT_NOTE if row.per_environment else ""))
        out.append("\n".join(_hidden_job(row, table)) + "\n")
    return "".join(out)
