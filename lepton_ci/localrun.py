"""`lepton-ci run`: execute the pipeline model on this machine, as Jenkins and GitLab would.

Same jobs, same commands, same order, same rules for the chosen trigger and branch, same
hand-offs (each job's declared artifacts must exist when it ends, as CI would upload them),
same approvals (asked on a terminal, `--approve` elsewhere), and `always` jobs still run after a
failure. It stops at the first failing job and shows that job's log tail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lepton_ci import console
from lepton_ci.errors import ExitCode, LeptonError, StepError
from lepton_ci.gitinfo import current_branch
from lepton_ci.pipeline.model import Command, Job, Pipeline, Trigger, shell_line
from lepton_ci.run_dir import RunDir

TAIL_LINES = 40
# a failing step's own category becomes `lepton-ci run`'s exit code (docs/exit-codes.md)
_PASSED_THROUGH = {code.value for code in ExitCode} - {0, 2, 130}


@dataclass
class JobResult:
    job: str
    status: str  # passed | failed | skipped | not-run
    seconds: float = 0.0
    reason: str = ""
    log: Path | None = None
    exit_code: int | None = None


@dataclass
class RunResult:
    results: list[JobResult] = field(default_factory=list)

    @property
    def failed(self) -> JobResult | None:
        return next((r for r in self.results if r.status == "failed"), None)


def select_jobs(
    pipeline: Pipeline,
    *,
    trigger: Trigger,
    branch: str | None,
    start: str | None = None,
    until: str | None = None,
    only: tuple[str, ...] = (),
) -> list[tuple[Job, str | None]]:
    """Jobs in order with the reason each is skipped (None: it runs)."""
    names = [job.name for job in pipeline.jobs]
    for wanted in (start, until, *only):
        if wanted is not None and wanted not in names:
            raise LeptonError(f"unknown stage {wanted!r}; stages: {', '.join(names)}")
    first = names.index(start) if start else 0
    last = names.index(until) if until else len(names) - 1
    out: list[tuple[Job, str | None]] = []
    for index, job in enumerate(pipeline.jobs):
        reason = None
        if only and job.name not in only:
            reason = "not selected (--only)"
        elif not first <= index <= last:
            reason = "outside --from/--until"
        else:
            reason = pipeline.skip_reason(job, trigger, branch, os.environ)
        out.append((job, reason))
    return out


def resolve(command: Command) -> list[str]:
    """Run `lepton-ci` as this very installation (same version as the runner)."""
    if command and command[0] == "lepton-ci":
        return [sys.executable, "-m", "lepton_ci", *command[1:]]
    return list(command)


def run_pipeline(
    pipeline: Pipeline,
    root: Path,
    *,
    trigger: Trigger = "push",
    branch: str | None = None,
    start: str | None = None,
    until: str | None = None,
    only: tuple[str, ...] = (),
    approve: Callable[[Job], bool],
    with_setup: bool = False,
    stream: bool = False,
) -> RunResult:
    if trigger == "schedule":  # retraining schedules run on the default branch only
        branch = branch or pipeline.default_branch
    branch = branch or current_branch(root) or pipeline.default_branch
    plan = select_jobs(
        pipeline, trigger=trigger, branch=branch, start=start, until=until, only=only
    )
    logs = root / pipeline.run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **dict(pipeline.variables)}
    env.setdefault("LEPTON_TRIGGER", trigger)
    result = RunResult()
    broken = False
    for job, skip in plan:
        if skip:
            result.results.append(JobResult(job.name, "skipped", reason=skip))
            continue
        if broken and not job.rule.always:
            result.results.append(JobResult(job.name, "not-run", reason="an earlier job failed"))
            continue
        if job.approval and not approve(job):
            result.results.append(JobResult(job.name, "not-run", reason="waiting for approval"))
            broken = True
            continue
        commands = (pipeline.setup(job) if with_setup else ()) + job.commands
        job_result = _run_job(job, commands, root, env, logs / f"{job.name}.log", stream)
        if job_result.status == "passed":
            missing = [a for a in job.artifacts if not (root / a).exists()]
            if missing:
                job_result.status = "failed"
                job_result.reason = f"declared artifacts missing: {', '.join(missing)}"
        result.results.append(job_result)
        if job_result.status == "failed":
            broken = True
    return result


def _run_job(
    job: Job,
    commands: tuple[Command, ...],
    root: Path,
    env: dict[str, str],
    log: Path,
    stream: bool,
) -> JobResult:
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    spinner = _Spinner(job.name) if console.interactive() and not stream else None
    console.info(f"▶ {job.title}", step=job.name) if spinner is None else spinner.start()
    with log.open("w", encoding="utf-8") as handle:
        for command in commands:
            handle.write(f"$ {shell_line(command)}\n")
            handle.flush()
            if stream:
                console.info(f"$ {shell_line(command)}", step=job.name)
            proc = subprocess.Popen(
                resolve(command),
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                handle.write(line)
                tail.append(line.rstrip("\n"))
                if stream:
                    print(f"[{job.name}] {line}", end="", file=sys.stderr, flush=True)
            code = proc.wait()
            if code != 0:
                if spinner:
                    spinner.stop("✗")
                seconds = time.monotonic() - started
                console.info(
                    f"✗ {job.title} failed (exit {code}) after {seconds:.1f}s", step=job.name
                )
                print("\n".join(f"    {line}" for line in tail), file=sys.stderr)
                console.info(f"full log: {log}", step=job.name)
                return JobResult(
                    job.name, "failed", seconds, f"`{shell_line(command)}` exited {code}", log, code
                )
    seconds = time.monotonic() - started
    if spinner:
        spinner.stop("✓")
    console.info(f"✓ {job.title} ({seconds:.1f}s)", step=job.name)
    return JobResult(job.name, "passed", seconds, log=log, exit_code=0)


class _Spinner:
    """A one-line live view of the running job on a terminal."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._started = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(0.1):
            elapsed = time.monotonic() - self._started
            sys.stderr.write(
                f"\r{self.FRAMES[frame % len(self.FRAMES)]} {self.name}  {elapsed:6.1f}s"
            )
            sys.stderr.flush()
            frame += 1

    def stop(self, mark: str) -> None:
        self._stop.set()
        self._thread.join()
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def raise_for(result: RunResult) -> None:
    failed = result.failed
    if failed is not None:
        error = StepError(f"job {failed.job} failed: {failed.reason}", hint=f"log: {failed.log}")
        if failed.exit_code in _PASSED_THROUGH:
            error.exit_code = ExitCode(failed.exit_code)  # e.g. 4: a quality gate failed
        raise error
    waiting = next((r for r in result.results if r.reason == "waiting for approval"), None)
    if waiting is not None:
        raise StepError(
            f"job {waiting.job} needs approval", hint="approve on a terminal, or pass --approve"
        )


_MARKS = {"passed": "✓", "failed": "✗", "skipped": "-", "not-run": "·"}


def result_lines(result: RunResult, run: RunDir | None = None) -> list[str]:
    """What `lepton-ci run` prints when the jobs are done: a line per job, then
    :func:`summary_lines` for the jobs that ran."""
    lines = [""]
    for item in result.results:
        extra = f"{item.seconds:6.1f}s" if item.status in {"passed", "failed"} else item.reason
        lines.append(f" {_MARKS[item.status]} {item.job:<22} {extra}")
    ran = {item.job for item in result.results if item.status in {"passed", "failed"}}
    return lines + summary_lines(ran, run)


def summary_lines(ran: set[str], run: RunDir | None = None) -> list[str]:
    """The JUnit report, metrics, HTML report and endpoints of the jobs in ``ran`` (this
    invocation's: an earlier run's files are not named)."""
    run = run or RunDir()
    lines = []
    if "evaluate" in ran and run.junit.exists():
        lines += ["", f"JUnit report: {run.junit}"]
    if "evaluate" in ran and run.metrics_json.exists():
        data = json.loads(run.metrics_json.read_text())
        shown = {k: v for k, v in data.get("metrics", {}).items() if "/" not in k}
        lines.append(
            "metrics: "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
            )
        )
    if "report" in ran and run.report_html.exists():
        lines.append(f"report: {run.report_html}")
    for env in run.deployed_environments():
        url = run.read_deploy_url(env) if f"deploy-{env}" in ran else None
        if url:
            lines.append(f"endpoint ({env}): {url}")
    return lines
