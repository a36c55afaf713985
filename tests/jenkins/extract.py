"""Evaluate a Jenkinsfile with real Groovy and a stub Jenkins DSL; read back what it would run.

The Groovy runtime is the one npm-groovy-lint ships (``lib/java/groovy/lib``). ``stub/`` holds
the DSL: declarative ``pipeline { }`` is recorded and interpreted (``when`` evaluated for the
branch and trigger asked for), steps are recorded in order (``sh``, ``withCredentials``,
``input``, ``stash``...). With ``library_dir`` the Jenkinsfile's library calls load the real
``jenkins/vars`` and ``jenkins/src``, so the shared library's own code builds the commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STUB_DIR = Path(__file__).resolve().parent / "stub"
GROOVY_LIB = ROOT / ".ci/.tools/node_modules/npm-groovy-lint/lib/java/groovy/lib"
LIBRARY_DIR = ROOT / "jenkins"
TRIGGERS = ("push", "merge_request", "schedule", "tag")
JVM_FLAGS = ("-Xshare:auto", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss4m")
CACHE_DIR = ROOT / ".ci/.cache/jenkins-stub"


class JenkinsEvalError(Exception):
    """The evaluated pipeline called ``error`` (or the stub hit something unsupported)."""

    def __init__(self, message: str, events: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.events = events


@dataclass(frozen=True)
class Evaluation:
    events: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


def compiled_stub() -> Path:
    """The stub's classes, compiled once per version of its sources (saves a second a call)."""
    sources = sorted(STUB_DIR.rglob("*.groovy"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = CACHE_DIR / digest
    if (target / "run.class").exists():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE_DIR))
    subprocess.run(
        ["java", *JVM_FLAGS, "-cp", str(GROOVY_LIB / "*"),
         "org.codehaus.groovy.tools.FileSystemCompiler", "-d", str(tmp), *map(str, sources)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    try:
        tmp.rename(target)
    except OSError:  # compiled concurrently by another process: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_env(
    branch: str,
    trigger: str,
    extra: Mapping[str, str] | None = None,
    job_kind: str = "multibranch",
) -> dict[str, str]:
    """The variables Jenkins sets for a build of ``branch`` started by ``trigger``.

    ``trigger="tag"``: a tag build (multibranch "Discover tags"); ``branch`` is then the tag
    name, which Jenkins puts in both ``BRANCH_NAME`` and ``TAG_NAME``.
    ``job_kind="pipeline"``: a plain Pipeline job from SCM. Only a multibranch project sets
    BRANCH_NAME, TAG_NAME and CHANGE_ID (BranchNameContributor.java and the SCM heads of
    jenkinsci/branch-api-plugin); the git plugin sets GIT_BRANCH (``origin/<branch>``,
    GitSCM.buildEnvironment in jenkinsci/git-plugin). A job's parameters reach the build as
    environment variables too (ParametersAction): pass them in ``extra``.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    env = {
        "WORKSPACE": "/var/jenkins/workspace/model",
        "PATH": "/usr/bin:/bin",
        "BUILD_NUMBER": "1",
    }
    if job_kind == "pipeline":
        if trigger not in ("push", "schedule"):
            raise ValueError(f"a plain Pipeline job has no {trigger} builds")
        env["GIT_BRANCH"] = f"origin/{branch}"
    elif trigger == "merge_request":
        env |= {"BRANCH_NAME": "PR-1", "CHANGE_ID": "1", "CHANGE_BRANCH": branch}
    elif trigger == "tag":
        env |= {"BRANCH_NAME": branch, "TAG_NAME": branch}
    else:
        env["BRANCH_NAME"] = branch
    return env | dict(extra or {})


def parameter_env(params: Mapping[str, str | bool]) -> dict[str, str]:
    """A build's parameters as its environment has them: strings, a Boolean as "true"/"false",
    under the name and its upper case too (BooleanParameterValue.buildEnvironment and
    StringParameterValue.buildEnvironment, jenkinsci/jenkins core/src/main/java/hudson/model/)."""
    env: dict[str, str] = {}
    for name, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else value
        env |= {name: text, name.upper(): text}
    return env


def causes(trigger: str, job_kind: str = "multibranch") -> tuple[str, ...]:
    """The causes a build records (class simple names), as `triggeredBy` matches them.

    The cron trigger's build: hudson.triggers.TimerTrigger$TimerTriggerCause. Any other build
    of a multibranch project: jenkins.branch.BranchEventCause (an SCM event,
    jenkinsci/branch-api-plugin); of a plain Pipeline job:
    hudson.triggers.SCMTrigger$SCMTriggerCause. Which one a real controller records also depends
    on how the build came (branch indexing: BranchIndexingCause; "Build Now": UserIdCause; a
    replay adds ReplayCause): pass ``Run.causes`` to say so.
    """
    if trigger == "schedule":
        return ("TimerTriggerCause",)
    return ("SCMTriggerCause",) if job_kind == "pipeline" else ("BranchEventCause",)


@dataclass(frozen=True)
class Run:
    """One build to simulate: the branch (the tag name for a tag build), what started it,
    extra variables, the job's parameters (typed: ``params``; strings in ``env``) and the
    build's causes (None: those of :func:`causes`)."""

    branch: str = "main"
    trigger: str = "push"
    env: tuple[tuple[str, str], ...] = ()
    job_kind: str = "multibranch"
    params: tuple[tuple[str, str | bool], ...] = ()
    causes: tuple[str, ...] | None = None


def evaluate_runs(
    jenkinsfile_text: str, runs: list[Run], *, library_dir: Path | None = None
) -> list[Evaluation | JenkinsEvalError]:
    """Evaluate one Jenkinsfile for several builds in ONE JVM (compiled once)."""
    payload = [
        {
            "env": build_env(
                r.branch, r.trigger, parameter_env(dict(r.params)) | dict(r.env), r.job_kind
            ),
            "trigger": r.trigger,
            "causes": list(causes(r.trigger, r.job_kind) if r.causes is None else r.causes),
            "params": dict(r.params),
        }
        for r in runs
    ]
    with tempfile.TemporaryDirectory(prefix="lepton-jenkins-") as tmp:
        source = Path(tmp, "Jenkinsfile")
        source.write_text(jenkinsfile_text, encoding="utf-8")
        runs_file = Path(tmp, "runs.json")
        runs_file.write_text(json.dumps(payload), encoding="utf-8")
        out = Path(tmp, "events.json")
        classpath = os.pathsep.join([str(GROOVY_LIB / "*"), str(compiled_stub())])
        library = str(Path(library_dir).resolve()) if library_dir else ""
        proc = subprocess.run(
            ["java", *JVM_FLAGS, "-cp", classpath, "run", str(source), str(out), library,
             str(runs_file)],
            capture_output=True, text=True, timeout=300, cwd=tmp,
        )  # fmt: skip
        if not out.exists():
            raise RuntimeError(
                f"groovy evaluation crashed (exit {proc.returncode}):\n{proc.stderr}"
            )
        results = json.loads(out.read_text(encoding="utf-8"))
    return [
        Evaluation(r["events"]) if r["error"] is None else JenkinsEvalError(r["error"], r["events"])
        for r in results
    ]


def evaluate_jenkinsfile(
    jenkinsfile_text: str,
    *,
    library_dir: Path | None = None,
    branch: str = "main",
    trigger: str = "push",
    env: Mapping[str, str] | None = None,
) -> Evaluation:
    """Run the Jenkinsfile under the stub for one build; every recorded step, in order."""
    run = Run(branch, trigger, tuple(sorted((env or {}).items())))
    [result] = evaluate_runs(jenkinsfile_text, [run], library_dir=library_dir)
    if isinstance(result, JenkinsEvalError):
        raise result
    return result


def jenkins_commands(
    jenkinsfile_text: str,
    *,
    library_dir: Path | None = None,
    branch: str = "main",
    trigger: str = "push",
) -> list[tuple[str, str]]:
    """(job name, shell line) for every ``sh`` the Jenkinsfile runs, in execution order.

    ``trigger="tag", branch="v1.2.0"`` simulates the tag build of ``v1.2.0``.

    The job name is ``LEPTON_JOB``, which every generated stage sets. A library-style file
    (``@Library``) loads this repository's ``jenkins/`` unless ``library_dir`` says otherwise.
    """
    [commands] = jenkins_commands_for(
        jenkinsfile_text, [(branch, trigger)], library_dir=library_dir
    )
    return commands


def jenkins_commands_for(
    jenkinsfile_text: str,
    builds: Sequence[tuple[str, str]],
    *,
    library_dir: Path | None = None,
) -> list[list[tuple[str, str]]]:
    """:func:`jenkins_commands` for several (branch, trigger) builds, in one JVM."""
    if library_dir is None and "@Library(" in jenkinsfile_text:
        library_dir = LIBRARY_DIR
    runs = [Run(branch, trigger) for branch, trigger in builds]
    out: list[list[tuple[str, str]]] = []
    for result in evaluate_runs(jenkinsfile_text, runs, library_dir=library_dir):
        if isinstance(result, JenkinsEvalError):
            raise result
        out.append([(e["job"], e["script"]) for e in result.of_kind("sh")])
    return out
