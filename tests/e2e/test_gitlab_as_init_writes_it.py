"""A newcomer's first GitLab pipeline, run by gitlab-ci-local exactly as `lepton-ci init` wrote it.

The CI-faithful harness of issue 8. The model repository is the housing regression (command-style
scripts, a `requirements.txt` pinning torch), not the digits example the pipeline was developed
on. The user does what `docs/` tells a newcomer, and nothing else:

1. `lepton-ci init` with the train and evaluate commands and a gate;
2. edits `lepton.yaml`: the data files, the evaluation dataset and task, a relative gate, the
   team's MLflow registry (``registry.backend: mlflow``), the team's package index
   (``lepton-ci.index_url``, where lepton-ci comes from: this checkout's wheel on a pypiserver),
   the team's base image (``image.base``: no public image can be pulled here, so the internal
   one `.ci/services` builds) and the ports its deploy host has free;
3. `lepton-ci render`, commit, push.

No ``install: false``, no shared host path, no wheel on ``PATH``: every job makes its own venv and
pip-installs its own extras and the repository's pins (pip's configuration on this machine is
what a runner's would be); the jobs' ``PATH`` holds no lepton-ci. The Docker jobs run too, on
the registry `init` writes (``127.0.0.1:5000``, the local registry) and the runner's
``DOCKER_HOST``: `image-build` stages the image by digest in the registry, `image-push` moves
the release tags there registry to registry from its own copy of the repository, and
`deploy-staging` starts the version's container and the front on the host network, bound to
127.0.0.1 (`deploy-production` waits for its approval: a manual job). What staging serves is
checked on its URL, then torn down with the module.

gitlab-ci-local runs each job in its own copy of the repository (``--shell-isolation``), artifacts
reaching a job only through its ``needs`` (``--no-artifacts-to-source``), with ``CI`` and
``GITLAB_CI`` set as on a runner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lepton_ci.deploy.docker_target import LABEL, DockerRuntime
from lepton_ci.dotenv import read_dotenv
from lepton_ci.netutil import free_port
from lepton_ci.registry.mlflow import MlflowRegistry
from lepton_ci.spec.loader import load_spec
from lepton_ci.spec.model import Spec
from tests.e2e.conftest import REPO, VENV_BIN, git, lepton
from tests.image.test_build_push import manifest_digest_at_registry, remove_images

# real pip installs in every job, an MLflow server, a wheel build, an image build and a deploy
pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(1200)]

GITLAB_CI_LOCAL = REPO / ".ci" / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
HOUSING = REPO / "examples" / "housing"
STATE = ".gitlab-ci-local"
# every job of the pipeline but deploy-production, a manual job (`approval: true`)
JOBS = ["train", "evaluate", "register", "image-build", "image-push", "deploy-staging",
        "metrics-push", "report"]  # fmt: skip


def newcomer_env(home: Path) -> dict[str, str]:
    """A runner's environment: no CI or lepton variables, no lepton-ci on PATH, empty caches."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEPTON_", "CI_", "GITLAB_", "JENKINS_", "VIRTUAL_ENV", "PYTHON"))
    }
    paths = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    env["PATH"] = os.pathsep.join([str(GITLAB_CI_LOCAL.parent), *paths])
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    return env


def as_a_newcomer_would(
    root: Path, index_url: str, registry_url: str | None, base_image: str | None = None
) -> None:
    """Copy the housing code in, `init`, make the edits docs/ ask of a user, `render`, commit.

    ``registry_url`` None: the registry `init` writes (the default, inside the workspace).
    ``base_image``: the team's base image, and free ports for the deploy environments."""
    for part in ("scripts", "data", "requirements.txt"):
        src = HOUSING / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / part)
    (root / ".gitignore").write_text(".lepton/\n__pycache__/\n.gitlab-ci-local/\n")
    git(root, "init", "-q", "-b", "main")
    env = {**newcomer_env(root.parent / "home"), "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin"}
    init = lepton(
        root,
        "init",
        "--train-command",
        "python scripts/train.py",
        "--evaluate-command",
        "python scripts/evaluate.py",
        "--gate",
        "r2 >= 0.9",
        env=env,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    spec_file = root / "lepton.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["lepton-ci"]["index_url"] = index_url
    spec["train"]["data"] = ["data/train.csv"]
    spec["evaluate"].update({"dataset": "data/test.csv", "task": "regression"})
    spec["gates"] += ["mse <= champion + 0.05"]
    if registry_url is not None:
        spec["registry"] = {"backend": "mlflow", "tracking_uri": registry_url}
    if base_image is not None:
        spec["image"]["base"] = base_image
        for environment in spec["deploy"]["environments"]:
            environment["port"] = free_port()  # 8080, the default, is anyone's on this host
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    rendered = lepton(root, "render", env=env)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "lepton-ci init")


@dataclass
class Run:
    root: Path
    proc: subprocess.CompletedProcess[str]

    @property
    def out(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def passed(self) -> set[str]:
        return set(re.findall(r"^ PASS\s+(?:\[[^]]*\]\s+)?(\S+)", self.out, flags=re.M))

    def log(self, job: str) -> str:
        return (self.root / STATE / "output" / f"{job}.log").read_text()

    def build(self, job: str) -> Path:
        """The job's own copy of the repository."""
        return self.root / STATE / "builds" / job

    def venv_python(self, job: str) -> Path:
        return self.build(job) / ".lepton" / "venv" / "bin" / "python"

    def run_file(self, job: str, name: str) -> dict[str, str]:
        return read_dotenv(self.build(job) / ".lepton" / "run" / name)


@dataclass
class Repository:
    root: Path
    model: str
    registry_url: str
    env: dict[str, str]
    spec: Spec | None = None

    def push(self, *jobs: str, needs: bool = True) -> Run:
        """gitlab-ci-local on what is committed: the whole pipeline, or ``jobs`` (and their
        needs, unless ``needs`` is false)."""
        argv = [str(GITLAB_CI_LOCAL), *jobs, *(["--needs"] if jobs and needs else [])]
        argv += ["--shell-executor-no-image", "--shell-isolation", "--no-artifacts-to-source"]
        argv += ["--no-color"]
        proc = subprocess.run(
            argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=1500
        )
        return Run(self.root, proc)


@pytest.fixture(scope="module")
def housing(
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_server: str,
    package_index: str,
    base_image: str,
    local_registry: str,
    docker_client: Any,
) -> Iterator[Repository]:
    """The repository; afterwards no container of its deployments and no image of it is left.

    The runner's environment has the Docker engine `.ci/services` started (``DOCKER_HOST``, as
    a runner with a Docker service has it)."""
    if not GITLAB_CI_LOCAL.exists():
        pytest.fail("gitlab-ci-local is not installed: run `bash .ci/setup`")
    work = tmp_path_factory.mktemp("newcomer")
    root = work / f"housing-{uuid.uuid4().hex[:8]}"  # the model's name: the directory's
    root.mkdir()
    as_a_newcomer_would(root, package_index, mlflow_server, base_image)
    spec = load_spec(root / "lepton.yaml")
    assert spec.image.registry == local_registry, "init writes the registry of this machine"
    try:
        yield Repository(root, root.name, mlflow_server, newcomer_env(work / "home"), spec)
    finally:
        for environment in spec.deploy.environments:
            port = environment.port or spec.image.port
            DockerRuntime(
                spec.model_name, environment.name, "127.0.0.1", port, client=docker_client
            ).shutdown()
        remove_images(docker_client, f"{spec.image.registry}/{spec.image_repository}")


@pytest.fixture(scope="module")
def first(housing: Repository) -> Run:
    return housing.push()


def test_every_job_installs_what_it_needs_and_succeeds(first: Run) -> None:
    assert first.proc.returncode == 0, first.out[-6000:]
    assert first.passed() == set(JOBS), first.out[-6000:]


def test_jobs_take_the_pinned_cpu_torch_and_only_where_user_code_runs(first: Run) -> None:
    def dists(job: str) -> dict[str, str]:
        out = subprocess.run(
            [str(first.venv_python(job)), "-m", "pip", "list", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return {d["name"].lower(): d["version"] for d in yaml.safe_load(out.stdout)}

    for job in ("train", "evaluate"):
        installed = dists(job)
        assert installed["torch"].startswith("2.13.0"), (job, installed["torch"])
        assert not [name for name in installed if name.startswith("nvidia")], job
    for job in ("register", "metrics-push", "report"):
        assert "torch" not in dists(job), f"{job} runs no user code: torch is a constraint only"
    assert "matplotlib" in dists("report"), "the report's plots"
    register = dists("register")
    assert "mlflow-skinny" in register, "the MLflow registry's client, where it is opened"
    assert "mlflow" not in register and "pandas" not in register, "the server is not needed"


def test_the_report_job_writes_the_page_its_artifacts_expose(first: Run) -> None:
    """Off a merge request and without GITLAB_TOKEN, publishing says so in one line and the
    job passes; the page it exposes (`expose_as`) is the one it wrote, from the needed jobs'
    artifacts."""
    log = first.log("report")
    assert "report: .lepton/run/report/index.html" in log, log[-3000:]
    assert "Traceback" not in log
    page = first.root / STATE / "builds" / "report" / ".lepton" / "run" / "report" / "index.html"
    assert "r2" in page.read_text()


def test_the_version_lands_in_the_team_registry_with_its_provenance(
    housing: Repository, first: Run
) -> None:
    version = MlflowRegistry(housing.registry_url).get(housing.model, 1)
    assert version.git_sha == git(housing.root, "rev-parse", "HEAD").strip()
    assert version.data_hash and version.metrics["r2"] >= 0.9
    assert "no champion yet (the first version of this model)" in first.log("evaluate")


def test_the_image_in_the_registry_is_the_digest_the_registered_version_records(
    housing: Repository, first: Run
) -> None:
    assert housing.spec is not None
    registry, repository = housing.spec.image.registry, housing.spec.image_repository
    version = MlflowRegistry(housing.registry_url).get(housing.model, 1)
    assert version.image == f"{registry}/{repository}:v1"
    assert version.image_digest == manifest_digest_at_registry(registry, repository, "v1")
    assert version.image_digest == manifest_digest_at_registry(registry, repository, "latest")
    handed_on = first.run_file("image-push", "image/image.env")  # deploy's dotenv
    assert handed_on["LEPTON_IMAGE_DIGEST"] == version.image_digest
    assert handed_on["LEPTON_IMAGE_REF"] == f"{registry}/{repository}@{version.image_digest}"


def test_image_push_moves_the_tags_from_a_copy_where_no_image_was_built(first: Run) -> None:
    """The build's hand-off is ``repository@digest`` in the registry (its artifact holds only
    build.env); the push job, in its own copy of the repository, points the release tags at
    that digest registry to registry (skopeo) and builds and uploads nothing."""
    staged = first.run_file("image-build", "image/build.env")["LEPTON_IMAGE_STAGED"]
    assert "@sha256:" in staged
    assert first.run_file("image-push", "image/build.env")["LEPTON_IMAGE_STAGED"] == staged
    log = first.log("image-push")
    tags = re.findall(r"tagging (\S+) -> (\S+) \(registry to registry\)", log)
    assert {target for _, target in tags} == {staged}, log[-3000:]
    assert {tag.rpartition(":")[2] for tag, _ in tags} >= {"v1", "latest"}
    assert "pushing " not in log and "skopeo not found" not in log, "no push by an engine"
    assert "(0 bytes uploaded)" in log
    assert not (first.build("image-push") / ".lepton" / "run" / "train").exists(), (
        "no model in the push job's copy: nothing there to build an image from"
    )


def test_staging_serves_version_1_on_its_url_and_production_awaits_approval(
    housing: Repository, first: Run, docker_client: Any
) -> None:
    """What a user checks after the first pipeline: the environment's URL (GitLab's
    `environment:url`, the deploy job's dotenv) answers with the registered version."""
    assert housing.spec is not None
    (staging, _) = housing.spec.deploy.environments
    url = first.run_file("deploy-staging", "deploy/staging.env")["LEPTON_DEPLOY_URL"]
    assert url == f"http://127.0.0.1:{staging.port}"
    with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
        ready = json.load(response)
    version = MlflowRegistry(housing.registry_url).get(housing.model, 1)
    assert ready["status"] == "ready" and ready["model"] == housing.model, ready
    assert ready["model_version"] == "1"
    assert ready["manifest_digest"] == version.manifest_digest

    def containers(environment: str) -> list[Any]:
        labels = [f"{LABEL}.model={housing.model}", f"{LABEL}.environment={environment}"]
        return list(docker_client.containers.list(all=True, filters={"label": labels}))

    running = containers("staging")
    assert {c.labels[f"{LABEL}.role"] for c in running} == {"front", "version"}
    for container in running:
        assert container.status == "running"
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"
    (served,) = [c for c in running if c.labels[f"{LABEL}.role"] == "version"]
    assert str(version.image_digest) in served.attrs["Config"]["Image"], "the recorded digest"
    assert "deploy-production" not in first.passed()
    assert containers("production") == [], "production is deployed after an approval only"


def test_the_next_pipeline_gates_against_the_champion_the_registry_kept(
    housing: Repository, first: Run
) -> None:
    """The champion outlives the pipeline that made it: no 'no champion yet' the second time.

    The second pipeline's evaluate runs in a fresh copy of the repository on the first
    pipeline's train artifact (gitlab-ci-local keeps it, as a retried GitLab job would get it),
    so only the job that reads the registry is run again: v1 now meets itself as the champion."""
    assert first.proc.returncode == 0, first.out[-3000:]
    promote = lepton(
        housing.root,
        "models",
        "promote",
        "1",
        "--to",
        "champion",
        env={**housing.env, "PATH": f"{VENV_BIN}{os.pathsep}{housing.env['PATH']}"},
    )
    assert promote.returncode == 0, promote.stdout + promote.stderr
    second = housing.push("evaluate", needs=False)
    assert second.proc.returncode == 0, second.out[-6000:]
    assert second.passed() == {"evaluate"}
    evaluate = second.log("evaluate")
    assert "no champion yet" not in evaluate
    assert re.search(r"mse <= champion \+ 0\.05: passed", evaluate), evaluate[-3000:]


def test_a_workspace_registry_in_ci_fails_the_first_job_that_opens_it(
    tmp_path: Path, package_index: str
) -> None:
    """Without a shared registry the champion would be forgotten: the evaluate job says so
    before it reads the model (so the train job is not needed here), naming the setting."""
    root = tmp_path / "housing-local"
    root.mkdir()
    as_a_newcomer_would(root, package_index, None)  # .lepton/registry.db in each job's copy
    repository = Repository(root, root.name, "", newcomer_env(tmp_path / "home"))
    run = repository.push("evaluate", needs=False)
    assert run.proc.returncode != 0
    assert run.passed() == set()
    evaluate = run.log("evaluate")
    assert "LEPTON_REGISTRY" in evaluate and "registry" in evaluate, evaluate[-3000:]
    assert "Traceback" not in evaluate
