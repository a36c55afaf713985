"""The train step's own processes: a command or torchrun runs as one process group the step owns.

- The group is started in its own session, so a timeout, a signal to the step (SIGTERM from a
  cancelled CI job, Ctrl-C) or the step's normal end stops *every* process of it (a command's
  ``sh -c`` and the trainer it started), SIGTERM first and SIGKILL after a grace period.
- ``<run dir>/.work/train.lock`` names the step's pid and the group's id while it runs, under an
  ``flock``: a second ``lepton-ci train`` on the same run directory is refused while the first
  lives, and a rerun after the step was killed with SIGKILL (which no handler sees) first stops
  the group the killed step left behind, so two trainers never share one work directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

import psutil

from lepton_ci import console
from lepton_ci.dotenv import format_dotenv, parse_dotenv
from lepton_ci.errors import StepError
from lepton_ci.retrying import poll

GRACE_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
LOCK_NAME = "train.lock"
GROUP_VAR = "LEPTON_TRAIN_GROUP"


class StepTimeout(Exception):
    """The group ran past its time limit (and was stopped)."""


class _Stopped(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def work_lock(work_root: Path) -> Iterator[Path]:
    """Hold the run directory's train lock; stop what a killed earlier step left running."""
    work_root.mkdir(parents=True, exist_ok=True)
    path = work_root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read(path).get("pid", "?")
            raise StepError(
                f"another `lepton-ci train` (pid {owner}) is training in {work_root.parent}",
                hint="wait for it to finish, or stop it; two trainers must not share a run dir",
            ) from None
        _stop_leftovers(_read(path))
        _write(fd, {"pid": str(os.getpid())})
        yield path
    finally:
        os.close(fd)  # the kernel drops the flock with it, also when the step is killed


def run_group(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    lock: Path | None = None,
) -> int:
    """Run ``argv`` as the leader of a new process group and return its exit status; on a
    timeout (:class:`StepTimeout`), a stop signal or any error, stop the whole group first."""
    token = secrets.token_hex(8)  # marks the group's processes: a recycled pid is not ours
    with _signals_stop_the_group():
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env={**env, GROUP_VAR: token}, start_new_session=True
        )
        if lock is not None:
            _record(lock, group=str(proc.pid), token=token)
        try:
            status = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc.pid, reap=proc.poll)
            proc.wait()
            raise StepTimeout from None
        except _Stopped as stopped:
            stop_group(proc.pid, reap=proc.poll)
            proc.wait()
            name = signal.Signals(stopped.signum).name
            raise StepError(f"train stopped by {name}: its processes were stopped") from None
        except BaseException:
            stop_group(proc.pid, reap=proc.poll)
            proc.wait()
            raise
        stop_group(proc.pid, grace=1.0, reap=proc.poll)  # anything it left in the background
        if lock is not None:
            _record(lock, group="", token="")
        return status


def stop_group(
    pgid: int, grace: float = GRACE_SECONDS, reap: Callable[[], object] = lambda: None
) -> bool:
    """SIGTERM the group, SIGKILL what is left after ``grace`` seconds; whether any was there.
    ``reap``: the leader's ``poll`` when it is our child (else its zombie keeps the group)."""
    if not _alive(pgid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)

    def gone() -> bool:
        reap()
        return not _alive(pgid)

    if not poll(gone, timeout=grace, interval=0.05):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return True


def _alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies count: their parent reaps them)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(pgid: int, token: str) -> bool:
    """Whether group ``pgid`` is the one that was started with ``token``: its leader, when it
    still runs, carries the token (Linux does not recycle a pid while its group lives)."""
    try:
        environ = psutil.Process(pgid).environ()
    except psutil.ZombieProcess:
        return False  # an exited, unreaped leader shows no environment: it cannot prove it
    except psutil.NoSuchProcess:
        return True  # the leader is gone and the group lives on: the original group
    except (psutil.AccessDenied, OSError):
        return False
    return bool(environ.get(GROUP_VAR) == token)


def _stop_leftovers(recorded: dict[str, str]) -> None:
    group, token = recorded.get("group", ""), recorded.get("token", "")
    if not (group.isdigit() and token and _alive(int(group)) and _ours(int(group), token)):
        return
    if stop_group(int(group)):
        console.info(
            f"stopped the trainer processes (group {group}) an interrupted earlier train "
            f"(pid {recorded.get('pid', '?')}) left running",
            step="train",
        )


def _record(lock: Path, **fields: str) -> None:
    lock.write_text(format_dotenv({**_read(lock), **fields}))


def _read(path: Path) -> dict[str, str]:
    try:
        return parse_dotenv(path.read_text())
    except OSError:
        return {}


def _write(fd: int, fields: dict[str, str]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, format_dotenv(fields).encode(), 0)


@contextlib.contextmanager
def _signals_stop_the_group() -> Iterator[None]:
    """While the group runs, SIGTERM/SIGINT/SIGHUP to the step stop the group, then the step
    (the group has its own session: a signal to the CI job's process group does not reach it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
