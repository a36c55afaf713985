"""`lepton-ci train` on the digits example: artifact, manifest, determinism, cache, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lepton_ci.model_files import load_exported
from lepton_ci.runtime.hashing import sha256_file
from lepton_ci.runtime.manifest import TamperedArtifact, manifest_digest, verify_artifacts

from .conftest import FAST, Repo, weights_sha256


def test_train_writes_a_verified_artifact_and_a_complete_manifest(repo: Repo) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo.root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo.root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"],
        cwd=repo.root,
        check=True,
    )
    env_url = "https://jenkins.example.com/job/digits/7/"
    os.environ["BUILD_URL"] = env_url
    try:
        repo.run("train", *FAST)
    finally:
        del os.environ["BUILD_URL"]

    manifest = verify_artifacts(repo.train_dir)
    assert set(manifest["files"]) >= {"model.pt2", "input_example.json"}
    assert manifest["files"]["model.pt2"]["sha256"] == sha256_file(repo.train_dir / "model.pt2")
    assert manifest["model"] == "digits-cnn"
    assert manifest["params"]["epochs"] == 3 and manifest["params"]["lr"] == 0.003
    assert manifest["seed"] == 42 and manifest["device"] == "cpu"
    assert manifest["data_hash"].startswith("sha256:") and len(manifest["data_hash"]) == 71
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo.root, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert manifest["git"] == {"commit": head, "branch": "main", "dirty": False}
    assert manifest["ci_url"] == env_url
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["durations"]["train_seconds"] > 0
    assert manifest["train_metrics"]["train_accuracy"] > 0.8
    assert manifest_digest(repo.train_dir).startswith("sha256:")

    import torch

    model = load_exported(repo.train_dir / "model.pt2")  # a torch.export program, any batch
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)

    (repo.train_dir / "model.pt2").write_bytes(b"not the model")
    with pytest.raises(TamperedArtifact, match=r"model\.pt2"):
        verify_artifacts(repo.train_dir)


def test_same_seed_gives_identical_weights_and_another_seed_does_not(repo: Repo) -> None:
    runs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        run_dir = repo.root / f"run-{name}"
        repo.run("train", *FAST, "--seed", seed, "--no-cache", "--run-dir", str(run_dir))
        runs[name] = weights_sha256(run_dir / "train" / "model.pt2")
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_cache_hit_skips_training_and_no_cache_retrains(repo: Repo) -> None:
    cold = repo.run("train", *FAST)
    assert "step cache miss" in cold.log and "train_loss=" in cold.log
    first = json.loads((repo.train_dir / "manifest.json").read_text())

    warm = repo.run("train", *FAST)
    assert "step cache hit" in warm.log and "training skipped" in warm.log
    assert "train_loss=" not in warm.log  # the entrypoint never ran
    reused = verify_artifacts(repo.train_dir)
    assert reused["cache"]["hit"] is True
    assert reused["files"] == first["files"] and reused["cache_key"] == first["cache_key"]

    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from lepton_ci.cli import main; "
            "main(['train', '--param', 'epochs=3']); print('torch' in sys.modules)",
        ],
        cwd=repo.root,
        env=repo.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "step cache hit" in probe.stderr and probe.stdout.strip().endswith("False")

    forced = repo.run("train", *FAST, "--no-cache")
    assert "--no-cache" in forced.log and "train_loss=" in forced.log
    assert verify_artifacts(repo.train_dir)["cache"]["hit"] is False

    changed = repo.run("train", "--param", "epochs=2")  # other params: another key
    assert "step cache miss" in changed.log

    (repo.root / "digits" / "model.py").write_text(
        (repo.root / "digits" / "model.py").read_text() + "\n# a code change\n"
    )
    edited = repo.run("train", *FAST)  # same params, changed source: another key
    assert "step cache miss" in edited.log


@pytest.mark.slow
def test_kill_9_mid_training_leaves_no_manifest_and_the_rerun_resumes(repo: Repo) -> None:
    epochs = ("--param", "epochs=12")
    reference = repo.root / "run-reference"
    repo.run("train", *epochs, "--no-cache", "--run-dir", str(reference))

    proc = repo.popen("train", *epochs, "--no-cache")
    checkpoint = next_checkpoint = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((repo.run_dir / ".work").glob("train-*/checkpoints/last.pt"))
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.02)
    assert checkpoint is not None, "training never wrote a checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    assert not (repo.train_dir / "manifest.json").exists()
    next_checkpoint = checkpoint  # still there for the rerun

    rerun = repo.run("train", *epochs)
    assert "found a checkpoint of an interrupted run" in rerun.log
    assert "resuming from checkpoint" in rerun.log
    manifest = verify_artifacts(repo.train_dir)
    assert manifest["resumed_from"]["epoch"] >= 0
    assert not next_checkpoint.exists()  # the work directory is cleaned up after success
    # RNG states are checkpointed too: the resumed model equals the uninterrupted one
    assert weights_sha256(repo.train_dir / "model.pt2") == weights_sha256(
        reference / "train" / "model.pt2"
    )


def test_a_crashing_entrypoint_fails_the_step_and_leaves_no_artifact(repo: Repo) -> None:
    repo.run("train", *FAST)  # an earlier, complete artifact ...
    (repo.root / "broken.py").write_text(
        "def train(ctx):\n    raise RuntimeError('out of memory on purpose')\n"
    )
    spec = repo.write_spec("broken.yaml", lambda t: t.replace("digits.train:train", "broken:train"))
    result = repo.run("train", "--spec", spec, check=False)
    assert result.returncode == 1
    assert "out of memory on purpose" in result.log  # the user's traceback is shown
    assert not (repo.train_dir / "manifest.json").exists()  # ... is not left to pass as this one


def test_command_style_training_gets_the_documented_environment(repo: Repo) -> None:
    (repo.root / "train_cmd.py").write_text(
        "import json, os, pathlib\n"
        "out = pathlib.Path(os.environ['LEPTON_OUTPUT_DIR'])\n"
        "params = json.loads(os.environ['LEPTON_PARAMS'])\n"
        "(out / 'weights.json').write_text(json.dumps({\n"
        "    'params': params, 'seed': os.environ['LEPTON_SEED'],\n"
        "    'device': os.environ['LEPTON_DEVICE'], 'data': os.environ['LEPTON_DATA']}))\n"
    )
    spec = repo.write_spec(
        "command.yaml",
        lambda t: t.replace("entrypoint: digits.train:train", "command: python train_cmd.py"),
    )
    repo.run("train", "--spec", spec, "--param", "epochs=5")
    manifest = verify_artifacts(repo.train_dir)
    written = json.loads((repo.train_dir / "weights.json").read_text())
    assert list(manifest["files"]) == ["weights.json"]
    assert written["params"]["epochs"] == 5 and written["seed"] == "42"
    assert written["device"] == "cpu"
    assert Path(written["data"]) == (repo.root / "data" / "train.npz").resolve()


@pytest.mark.slow
def test_two_process_data_parallel_training_writes_one_artifact(repo: Repo) -> None:
    result = repo.run("train", "--nproc", "2", "--param", "epochs=2", "--device", "cpu")
    assert "launching 2 process(es)" in result.log and "gloo" in result.log
    manifest = verify_artifacts(repo.train_dir)
    assert manifest["world_size"] == 2
    assert "model.pt2" in manifest["files"]
    assert manifest["train_metrics"]["train_loss"] > 0
    assert list(repo.run_dir.glob("**/manifest.json")) == [repo.train_dir / "manifest.json"]
