"""Fixtures for the Jenkins tests: specs, rendered Jenkinsfiles, Groovy runs, one lint run."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import pytest

from lepton_ci.pipeline import Pipeline, build_pipeline
from lepton_ci.render.jenkins import render_jenkinsfile
from lepton_ci.render.outputs import RenderOptions
from lepton_ci.spec.loader import parse_spec
from lepton_ci.spec.model import Spec
from tests.golden.cases import golden_spec, golden_spec_path
from tests.jenkins.extract import (
    GROOVY_LIB,
    LIBRARY_DIR,
    ROOT,
    Evaluation,
    JenkinsEvalError,
    Run,
    evaluate_runs,
)

LINTER = ROOT / ".ci/.tools/node_modules/.bin/npm-groovy-lint"
STYLES = ("standalone", "library")

#: the specs these tests use are golden cases (tests/golden/jenkins-*), so each also runs
#: through the golden, parity and gitlab-ci-local tests
JENKINS_CASES = ("minimal", "full", "kubernetes", "release-tags", "index")
SPECS = {name: golden_spec(f"jenkins-{name}") for name in JENKINS_CASES}
SPEC_PATHS = {name: golden_spec_path(f"jenkins-{name}") for name in JENKINS_CASES}


@dataclass(frozen=True)
class Rendered:
    case: str
    style: str
    spec: Spec
    pipeline: Pipeline
    text: str

    def evaluate(
        self, branch: str = "main", trigger: str = "push", job_kind: str = "multibranch", **env: str
    ) -> Evaluation:
        """This file run for one build; the usual builds are evaluated together, in one JVM."""
        wanted = Run(branch, trigger, tuple(sorted(env.items())), job_kind)
        results = _evaluations.setdefault((self.text, self.style), {})
        if wanted not in results:
            runs = [wanted] + [
                r for r in usual_runs(self.pipeline.default_branch) if r not in results
            ]
            library = LIBRARY_DIR if self.style == "library" else None
            results.update(
                zip(runs, evaluate_runs(self.text, runs, library_dir=library), strict=True)
            )
        result = results[wanted]
        if isinstance(result, JenkinsEvalError):
            raise result
        return result


_evaluations: dict[tuple[str, str], dict[Run, Evaluation | JenkinsEvalError]] = {}


def usual_runs(default_branch: str) -> list[Run]:
    """The builds the tests ask about: evaluated in one go per Jenkinsfile."""
    return [
        Run(default_branch, "push"),
        Run(default_branch, "schedule"),
        Run(default_branch, "merge_request"),
        Run("feature/faster-cnn", "push"),
        Run("feature/faster-cnn", "merge_request"),
        Run(default_branch, "push", (("STUB_RESULT", "FAILURE"),)),
        Run(default_branch, "push", (("LEPTON_DEPLOY_DISABLED", "1"),)),
        *(Run(tag, "tag") for tag in TAGS),
    ]


TAGS = ("v1.2.0", "exp-1", "V1.2.0", "v2/rc1", "rel-3", "rel3")
"""Tag builds asked about: release tags of the default `v*` or of `rel-*`, and near misses."""


def render(spec: Spec, style: str, spec_path: str = "lepton.yaml") -> tuple[Pipeline, str]:
    pipeline = build_pipeline(spec, spec_path)
    return pipeline, render_jenkinsfile(pipeline, RenderOptions.from_spec(spec, style))


@cache
def rendered(case: str, style: str) -> Rendered:
    spec = parse_spec(SPECS[case], f"{case}.yaml")
    pipeline, text = render(spec, style, SPEC_PATHS.get(case, "lepton.yaml"))
    return Rendered(case, style, spec, pipeline, text)


@pytest.fixture(scope="session")
def groovy_runtime() -> None:
    if shutil.which("java") is None or not any(GROOVY_LIB.glob("groovy-4*.jar")):
        pytest.fail("java and npm-groovy-lint's Groovy are needed: run `bash .ci/setup`")


@pytest.fixture(params=[(c, s) for c in SPECS for s in STYLES], ids=lambda p: f"{p[0]}-{p[1]}")
def any_rendered(request: pytest.FixtureRequest, groovy_runtime: None) -> Rendered:
    """Every spec case in both styles."""
    return rendered(*request.param)


@pytest.fixture(params=STYLES)
def full(request: pytest.FixtureRequest, groovy_runtime: None) -> Rendered:
    """The `full` case in both styles."""
    return rendered("full", request.param)


@dataclass(frozen=True)
class LintReport:
    """npm-groovy-lint's findings, per file relative to the linted tree."""

    files: dict[str, list[dict[str, object]]]

    def errors(self, name: str) -> list[str]:
        return [
            f"{e.get('line')}: {e.get('msg')} ({e.get('rule')})"
            for e in self.files[name]
            if e.get("severity") == "error"
        ]


LintTree = Callable[[dict[str, str]], LintReport]


@pytest.fixture(scope="session")
def lint_tree(tmp_path_factory: pytest.TempPathFactory) -> LintTree:
    """Lint {relative path: text} plus the shared library in ONE linter run (Java is slow)."""
    if not LINTER.exists():
        pytest.fail(f"{LINTER} is missing: run `bash .ci/setup`")

    def lint(files: dict[str, str]) -> LintReport:
        root = tmp_path_factory.mktemp("lint")
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        shutil.copytree(LIBRARY_DIR, root / "jenkins")
        proc = subprocess.run(
            [str(LINTER), "--noserver", "--failon", "error", "--output", "json",
             "--loglevel", "error", "."],
            cwd=root, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(
                f"npm-groovy-lint gave no report (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        return LintReport(
            {
                str(Path(f).relative_to(root)): v.get("errors", [])
                for f, v in report["files"].items()
            }
        )

    return lint


def payload(marker: Path) -> str:
    """Text that breaks or runs code wherever it is not escaped for Groovy and the shell."""
    return (
        'it\'s "quoted" $HOME ${env.BRANCH_NAME} ${"${x}"} `id` back\\slash\n'
        "line two ${new File('" + str(marker) + "').write('pwned')} \t$(id)"
    )


def hostile(style: str, marker: Path) -> Rendered:
    """The `full` case with a payload as project name, agent label, approvers and spec path."""
    text = payload(marker)
    spec = parse_spec(
        SPECS["full"]
        .replace("name: Digits CNN", f"name: {json.dumps(text)}")
        .replace(
            "agents: {train: {label: gpu}}", f"agents: {{default: {{label: {json.dumps(text)}}}}}"
        ),
        "hostile.yaml",
    )
    pipeline = build_pipeline(spec, f"specs/{text}.yaml")
    jobs = tuple(
        replace(job, approval=replace(job.approval, approvers=(text, "ops")))
        if job.approval
        else job
        for job in pipeline.jobs
    )
    pipeline = replace(pipeline, jobs=jobs)
    return Rendered(
        "hostile",
        style,
        spec,
        pipeline,
        render_jenkinsfile(pipeline, RenderOptions.from_spec(spec, style)),
    )
