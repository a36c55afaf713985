"""The CI-faithful harness on the second example: digits, as a newcomer sets it up.

Of another task and layout than housing (tests/e2e/test_gitlab_as_init_writes_it.py, whose
helpers this file uses): image classification in an importable package (`digits/`), trained
and evaluated by entrypoints that `init` detects, on `.npz` data, written as a torch.export
program. The team's repository has no requirements file; the team writes one pinning torch,
as docs/gitlab-setup.md asks, and `init` picks it up. Then the same edits as for housing (data,
dataset, task, a relative gate, the team's MLflow, index, base image and free ports).

Its first pipeline runs every job but the manual production deploy; its own file, so the
suite's other worker can take it beside the housing harness.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from lepton_ci.registry.mlflow import MlflowRegistry
from tests.e2e.conftest import REPO, git
from tests.e2e.test_gitlab_as_init_writes_it import (
    JOBS,
    Example,
    Repository,
    Run,
    newcomer_repository,
    ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(1200)]

DIGITS_REPO = Example(
    source=REPO / "examples" / "digits",
    parts=("digits", "data"),
    init=("--gate", "accuracy >= 0.9"),
    data="data/train.npz",
    dataset="data/test.npz",
    task="classification",
    gate="accuracy >= champion - 0.01",
    requirements="torch==2.13.0\nnumpy>=1.24,<3\n",
)


@pytest.fixture(scope="module")
def digits(
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_server: str,
    package_index: str,
    base_image: str,
    docker_client: Any,
) -> Iterator[Repository]:
    with newcomer_repository(
        tmp_path_factory.mktemp("newcomer-digits"), DIGITS_REPO, mlflow=mlflow_server,
        index=package_index, base=base_image, docker=docker_client,
    ) as repository:  # fmt: skip
        yield repository


@pytest.fixture(scope="module")
def first(digits: Repository) -> Run:
    return digits.push()


def test_init_found_the_entrypoints_and_the_pins(digits: Repository) -> None:
    assert digits.spec is not None
    assert digits.spec.train.entrypoint == "digits.train:train"
    assert digits.spec.evaluate.entrypoint == "digits.evaluate:evaluate"
    assert digits.spec.lepton_ci.requirements == ["requirements.txt"]


def test_every_job_installs_what_it_needs_and_succeeds(first: Run) -> None:
    assert first.proc.returncode == 0, first.out[-6000:]
    assert first.passed() == set(JOBS), first.out[-6000:]


def test_train_takes_the_pinned_cpu_torch_and_writes_an_exported_program(first: Run) -> None:
    out = subprocess.run(
        [str(first.venv_python("train")), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {d["name"].lower(): d["version"] for d in json.loads(out.stdout)}
    assert installed["torch"].startswith("2.13.0")
    assert not [name for name in installed if name.startswith("nvidia")]
    assert (first.build("train") / ".lepton" / "run" / "train" / "model.pt2").is_file()


def test_v1_is_registered_with_its_provenance_and_served_by_staging(
    digits: Repository, first: Run
) -> None:
    assert digits.spec is not None
    version = MlflowRegistry(digits.registry_url).get(digits.model, 1)
    assert version.git_sha == git(digits.root, "rev-parse", "HEAD").strip()
    assert version.metrics["accuracy"] >= 0.9 and version.data_hash
    assert "no champion yet (the first version of this model)" in first.log("evaluate")
    (staging, _) = digits.spec.deploy.environments
    status = ready(f"http://127.0.0.1:{staging.port}")
    assert status["model_version"] == "1"
    assert status["manifest_digest"] == version.manifest_digest
    assert (first.build("report") / ".lepton" / "run" / "report" / "index.html").is_file()
