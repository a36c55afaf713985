"""A command-style (or torchrun) train step owns its processes (runtime/trainer_process.py).

The trainer a `train.command` starts is a grandchild of the step (`sh -c` in between). It is
stopped with the step: on a timeout, on SIGTERM (a cancelled CI job), when the step ends, and —
after the step was killed with SIGKILL, which nothing can catch — by the next `lepton-ci train`
on that run directory before it trains. Two live steps never share a run directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lepton_ci.errors import StepError
from lepton_ci.runtime import trainer_process
from lepton_ci.runtime.trainer_process import StepTimeout, run_group, work_lock

from .conftest import Repo

SPEC = """\
version: 1
project: {name: Sleeper, model: sleeper}
train:
  command: python fit.py; echo trained
evaluate:
  command: python fit.py
  dataset: fit.py
  task: regression
gates:
  - mae <= 1
"""

# Writes its pid; the first run after `hang` was created takes it and hangs until stopped, any
# other saves a model and ends.
FIT = """\
import os, pathlib, time
pathlib.Path("trainer.pid").write_text(str(os.getpid()))
hang = pathlib.Path("hang")
if hang.exists():
    hang.unlink()
    while True:
        time.sleep(0.05)
pathlib.Path(os.environ["LEPTON_OUTPUT_DIR"], "model.json").write_text("{}")
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def wait_for(predicate, seconds: float = 60) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sleeper(tmp_path: Path) -> Repo:
    root = tmp_path / "sleeper"
    root.mkdir()
    (root / "lepton.yaml").write_text(SPEC)
    (root / "fit.py").write_text(FIT)
    return Repo(root, tmp_path / "cache", tmp_path / "registry.db")


def start_hanging_train(repo: Repo) -> tuple[subprocess.Popen[str], int]:
    (repo.root / "hang").write_text("")
    step = repo.popen("train", "--no-cache")
    pid_file = repo.root / "trainer.pid"
    assert wait_for(lambda: pid_file.is_file() and not (repo.root / "hang").exists())
    return step, int(pid_file.read_text())


def test_a_rerun_stops_the_trainer_a_kill_9_left_behind(sleeper: Repo) -> None:
    step, trainer = start_hanging_train(sleeper)
    try:
        step.send_signal(signal.SIGKILL)
        step.wait()
        time.sleep(0.5)
        assert alive(trainer)  # SIGKILL reaches no handler: the orphan trains on, for now

        rerun = sleeper.run("train", "--no-cache")
        assert "stopped the trainer processes" in rerun.log
        assert not alive(trainer)
        assert (sleeper.train_dir / "model.json").is_file()
    finally:
        if alive(trainer):
            os.kill(trainer, signal.SIGKILL)


def test_sigterm_to_the_step_stops_its_trainer(sleeper: Repo) -> None:
    step, trainer = start_hanging_train(sleeper)
    step.send_signal(signal.SIGTERM)
    out, _ = step.communicate(timeout=60)
    assert step.returncode != 0
    assert "train stopped by SIGTERM" in out and "Traceback" not in out
    assert wait_for(lambda: not alive(trainer), 5)
    assert not (sleeper.train_dir / "manifest.json").exists()


def test_a_second_step_on_the_same_run_dir_is_refused_while_the_first_lives(
    sleeper: Repo,
) -> None:
    step, trainer = start_hanging_train(sleeper)
    try:
        second = sleeper.run("train", "--no-cache", check=False)
        assert second.returncode != 0
        assert f"another `lepton-ci train` (pid {step.pid}) is training" in second.log
        assert alive(trainer)  # the first one is left alone
    finally:
        step.send_signal(signal.SIGTERM)
        step.wait(timeout=60)


def test_a_timeout_stops_the_grandchild_too(tmp_path: Path) -> None:
    """subprocess.run(timeout=...) kills only `sh`; the trainer under it would train on."""
    pid_file = tmp_path / "trainer.pid"
    trainer = f"import os, time; open('{pid_file}', 'w').write(str(os.getpid())); time.sleep(600)"
    script = f'python3 -c "{trainer}"; true'
    with pytest.raises(StepTimeout):
        run_group(["sh", "-c", script], cwd=tmp_path, env=os.environ, timeout=2)
    assert not alive(int(pid_file.read_text()))


def test_what_a_command_leaves_in_the_background_ends_with_the_step(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    script = f"sleep 600 & echo $! > {pid_file}"
    assert run_group(["sh", "-c", script], cwd=tmp_path, env=os.environ, timeout=60) == 0
    assert not alive(int(pid_file.read_text()))


def test_a_recorded_group_whose_leader_is_not_ours_is_never_signalled(tmp_path: Path) -> None:
    """The pid of a killed step's group may be recycled: only a group carrying the token of
    the lock file is stopped."""
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        lock = tmp_path / ".work" / trainer_process.LOCK_NAME
        lock.parent.mkdir()
        lock.write_text(f"pid=1\ngroup={stranger.pid}\ntoken=0123456789abcdef\n")
        with work_lock(lock.parent):
            pass
        assert alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


def test_a_lock_held_by_a_live_step_names_it(tmp_path: Path) -> None:
    refused = pytest.raises(StepError, match="another `lepton-ci train`")
    with work_lock(tmp_path / ".work"), refused, work_lock(tmp_path / ".work"):
        pass


def test_a_recorded_group_whose_leader_carries_the_token_is_stopped(tmp_path: Path) -> None:
    """As after a kill -9 of the step: the group's leader is no child of ours, and carries the
    token of the lock file."""
    token = "0123456789abcdef"
    env = {**os.environ, trainer_process.GROUP_VAR: token}
    pid_file = tmp_path / "leader.pid"
    subprocess.run(["sh", "-c", f"setsid sleep 600 & echo $! > {pid_file}"], env=env, check=True)
    leader = int(pid_file.read_text())
    try:
        assert wait_for(lambda: os.getpgid(leader) == leader)
        lock = tmp_path / ".work" / trainer_process.LOCK_NAME
        lock.parent.mkdir()
        lock.write_text(f"pid=1\ngroup={leader}\ntoken={token}\n")
        with work_lock(lock.parent):
            assert wait_for(lambda: not alive(leader), 5)
    finally:
        if alive(leader):
            os.kill(leader, signal.SIGKILL)


def test_a_recorded_group_whose_leader_exited_unreaped_is_left_alone(tmp_path: Path) -> None:
    """A zombie leader shows no environment, so nothing proves the group is the recorded one:
    the processes of its group are not signalled."""
    token = "0123456789abcdef"
    env = {**os.environ, trainer_process.GROUP_VAR: token}
    pid_file = tmp_path / "member.pid"
    leader = subprocess.Popen(
        ["sh", "-c", f"sleep 600 & echo $! > {pid_file}"], env=env, start_new_session=True
    )
    assert wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip() != "")
    member = int(pid_file.read_text())
    try:
        assert wait_for(lambda: not alive(leader.pid))  # exited; we have not reaped it
        lock = tmp_path / ".work" / trainer_process.LOCK_NAME
        lock.parent.mkdir()
        lock.write_text(f"pid=1\ngroup={leader.pid}\ntoken={token}\n")
        with work_lock(lock.parent):
            pass
        assert alive(member)
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
