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

Then the pipelines that follow: the approver plays the manual production job (v1 becomes the
champion), the same commit runs again (nothing new is registered, built or deployed) and a
commit that trains a worse model fails at its gate against the champion, nothing registered,
pushed or deployed; a commit that trains a better one passes it, becomes v2, serves staging and,
once approved, production, and replaces the champion.

gitlab-ci-local runs each job in its own copy of the repository (``--shell-isolation``), artifacts
reaching a job only through its ``needs`` (``--no-artifacts-to-source``), with ``CI`` and
``GITLAB_CI`` set as on a runner.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Example:
    """A model repository as its team has it before lepton-ci, and what it tells `init` and
    `lepton.yaml` (the edits docs/ ask of this team)."""

    source: Path
    parts: tuple[str, ...]  # what the team's repository holds, copied from ``source``
    init: tuple[str, ...]  # `lepton-ci init` arguments
    data: str
    dataset: str
    task: str
    gate: str  # a relative gate, added by hand
    requirements: str | None = None  # a requirements.txt the team writes (its pins)


HOUSING_REPO = Example(
    source=HOUSING,
    parts=("scripts", "data", "requirements.txt"),
    init=(
        *("--train-command", "python scripts/train.py"),
        *("--evaluate-command", "python scripts/evaluate.py"),
        *("--gate", "r2 >= 0.9"),
    ),
    data="data/train.csv",
    dataset="data/test.csv",
    task="regression",
    gate="mse <= champion + 0.05",
)


def as_a_newcomer_would(
    root: Path,
    index_url: str,
    registry_url: str | None,
    base_image: str | None = None,
    example: Example = HOUSING_REPO,
) -> None:
    """Copy the example's code in, `init`, make the edits docs/ ask of a user, `render`, commit.

    ``registry_url`` None: the registry `init` writes (the default, inside the workspace).
    ``base_image``: the team's base image, and free ports for the deploy environments."""
    for part in example.parts:
        src = example.source / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / part)
    if example.requirements is not None:
        (root / "requirements.txt").write_text(example.requirements)
    (root / ".gitignore").write_text(".lepton/\n__pycache__/\n.gitlab-ci-local/\n")
    git(root, "init", "-q", "-b", "main")
    env = {**newcomer_env(root.parent / "home"), "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin"}
    init = lepton(root, "init", *example.init, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    spec_file = root / "lepton.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["lepton-ci"]["index_url"] = index_url
    spec["train"]["data"] = [example.data]
    spec["evaluate"].update({"dataset": example.dataset, "task": example.task})
    spec["gates"] += [example.gate]
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
    """One gitlab-ci-local run: its output and its jobs' logs (kept: the next run of the same
    repository overwrites the files). Its job copies (``build``) are the latest run's."""

    root: Path
    proc: subprocess.CompletedProcess[str]
    logs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in (self.root / STATE / "output").glob("*.log"):
            self.logs[path.stem] = path.read_text()

    @property
    def out(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def passed(self) -> set[str]:
        return set(re.findall(r"^ PASS\s+(?:\[[^]]*\]\s+)?(\S+)", self.out, flags=re.M))

    def failed(self) -> set[str]:
        return set(re.findall(r"^ FAIL\s+(?:\[[^]]*\]\s+)?(\S+)", self.out, flags=re.M))

    def log(self, job: str) -> str:
        return self.logs[job]

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


@contextlib.contextmanager
def newcomer_repository(
    work: Path, example: Example, *, mlflow: str, index: str, base: str, docker: Any
) -> Iterator[Repository]:
    """The example as a newcomer sets it up in ``work``; afterwards no container of its
    deployments and no image of it is left.

    The runner's environment has the Docker engine `.ci/services` started (``DOCKER_HOST``, as
    a runner with a Docker service has it)."""
    if not GITLAB_CI_LOCAL.exists():
        pytest.fail("gitlab-ci-local is not installed: run `bash .ci/setup`")
    root = work / f"{example.source.name}-{uuid.uuid4().hex[:8]}"  # the model's name
    root.mkdir()
    as_a_newcomer_would(root, index, mlflow, base, example)
    spec = load_spec(root / "lepton.yaml")
    try:
        yield Repository(root, spec.model_name, mlflow, newcomer_env(work / "home"), spec)
    finally:
        for environment in spec.deploy.environments:
            port = environment.port or spec.image.port
            DockerRuntime(
                spec.model_name, environment.name, "127.0.0.1", port, client=docker
            ).shutdown()
        remove_images(docker, f"{spec.image.registry}/{spec.image_repository}")


@pytest.fixture(scope="module")
def housing(
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_server: str,
    package_index: str,
    base_image: str,
    local_registry: str,
    docker_client: Any,
) -> Iterator[Repository]:
    work = tmp_path_factory.mktemp("newcomer")
    with newcomer_repository(
        work, HOUSING_REPO, mlflow=mlflow_server, index=package_index, base=base_image,
        docker=docker_client,
    ) as repository:  # fmt: skip
        assert repository.spec is not None
        assert repository.spec.image.registry == local_registry, "init writes this machine's"
        assert repository.model == repository.root.name, "the model's name: the directory's"
        yield repository


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
    status = ready(url)
    version = MlflowRegistry(housing.registry_url).get(housing.model, 1)
    assert status["status"] == "ready" and status["model"] == housing.model, status
    assert status["model_version"] == "1"
    assert status["manifest_digest"] == version.manifest_digest

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


def ready(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
        return dict(json.load(response))


def registry_tags(registry: str, repository: str) -> set[str]:
    """The tags the registry holds for the repository (Distribution API ``tags/list``)."""
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list") as response:
        return set(json.load(response)["tags"] or [])


@pytest.fixture(scope="module")
def approved(housing: Repository, first: Run) -> Run:
    """The approver plays the first pipeline's manual production job (GitLab's play button;
    gitlab-ci-local runs a job it is given by name whatever its `when`), on that pipeline's
    artifacts."""
    assert first.proc.returncode == 0, first.out[-3000:]
    return housing.push("deploy-production", needs=False)


def test_approving_production_deploys_v1_there_and_makes_it_the_champion(
    housing: Repository, approved: Run
) -> None:
    assert approved.proc.returncode == 0, approved.out[-6000:]
    assert approved.passed() == {"deploy-production"}
    url = approved.run_file("deploy-production", "deploy/production.env")["LEPTON_DEPLOY_URL"]
    assert ready(url)["model_version"] == "1"
    champion = MlflowRegistry(housing.registry_url).champion(housing.model)
    assert champion is not None and champion.version == 1


@pytest.fixture(scope="module")
def rerun(housing: Repository, approved: Run) -> Run:
    """The same commit's pipeline run again (GitLab's "Run pipeline" on main)."""
    return housing.push()


def test_a_rerun_of_the_same_commit_gates_against_the_champion_and_makes_nothing_new(
    housing: Repository, rerun: Run
) -> None:
    """The champion outlives the pipeline that made it, and nothing that did not change is
    made again: train hits the step cache, register finds v1 holds the artifact, the image
    build finds the image of the same inputs, staging already serves it."""
    assert housing.spec is not None
    assert rerun.proc.returncode == 0, rerun.out[-6000:]
    assert rerun.passed() == set(JOBS)
    assert "step cache hit" in rerun.log("train")
    evaluate = rerun.log("evaluate")
    assert "no champion yet" not in evaluate
    assert re.search(r"mse <= champion \+ 0\.05: passed", evaluate), evaluate[-3000:]
    assert "version 1 already holds this artifact: nothing new registered" in rerun.log("register")
    registry = MlflowRegistry(housing.registry_url)
    assert [v.version for v in registry.list(housing.model)] == [1]
    assert "image inputs unchanged" in rerun.log("image-build"), rerun.log("image-build")
    version = registry.get(housing.model, 1)
    image = housing.spec.image
    assert manifest_digest_at_registry(image.registry, housing.spec.image_repository, "v1") == (
        version.image_digest
    )
    assert "is already live: nothing to do" in rerun.log("deploy-staging")


def commit_params(housing: Repository, params: dict[str, Any], message: str) -> None:
    """The team changes ``train.params``, re-renders, commits (the next push runs it)."""
    spec_file = housing.root / "lepton.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["train"]["params"] = params
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {**housing.env, "PATH": f"{VENV_BIN}{os.pathsep}{housing.env['PATH']}"}
    rendered = lepton(housing.root, "render", env=env)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    git(housing.root, "commit", "-q", "-am", message)


@pytest.fixture(scope="module")
def worse(housing: Repository, rerun: Run) -> tuple[Run, set[str]]:
    """A commit that trains 2 epochs instead of train.py's 60 (r2 still above 0.9, mse far
    above the champion's), rendered and pushed; with the registry's tags before it."""
    assert housing.spec is not None
    before = registry_tags(housing.spec.image.registry, housing.spec.image_repository)
    commit_params(housing, {"epochs": 2}, "train for 2 epochs")
    return housing.push(), before


def test_a_worse_challenger_fails_its_gate_with_nothing_registered_pushed_or_deployed(
    housing: Repository, worse: tuple[Run, set[str]]
) -> None:
    run, tags_before = worse
    assert housing.spec is not None
    assert run.proc.returncode != 0
    assert run.failed() == {"evaluate"}, run.out[-3000:]
    # register and everything after it never start. GitLab would still run metrics-push and
    # report (`when: always` runs whatever its needs ended as, skipped included); gitlab-ci-local
    # 4.60.1 never does once an optional need was skipped (src/executor.js: the skipped register
    # is never `finished`, so `isNotFinished` holds them back): not asserted either way here
    assert {"train"} <= run.passed() <= {"train", "metrics-push", "report"}, run.out[-3000:]
    evaluate = run.log("evaluate")
    assert re.search(r"mse <= champion \+ 0\.05: FAILED, value=0\.1", evaluate), evaluate[-3000:]
    assert re.search(r"r2 >= 0\.9: passed", evaluate), "worse than the champion, not broken"
    registry = MlflowRegistry(housing.registry_url)
    assert [v.version for v in registry.list(housing.model)] == [1]
    champion = registry.champion(housing.model)
    assert champion is not None and champion.version == 1
    image = housing.spec.image
    assert registry_tags(image.registry, housing.spec.image_repository) == tags_before
    for environment in housing.spec.deploy.environments:
        assert ready(f"http://127.0.0.1:{environment.port}")["model_version"] == "1"


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


@dataclass
class Challenge:
    """A better challenger's pipeline, and the approval of its production deploy after it."""

    pipeline: Run
    approval: Run


@pytest.fixture(scope="module")
def better(housing: Repository, worse: tuple[Run, set[str]]) -> Challenge:
    """A commit that trains 120 epochs (train.py's other defaults kept): a lower test mse than
    the 60-epoch champion's, so its gates pass; then the approver plays production."""
    commit_params(
        housing, {"epochs": 120, "lr": 0.01, "hidden": 32, "batch_size": 64}, "train longer"
    )
    pipeline = housing.push()
    assert pipeline.proc.returncode == 0, pipeline.out[-6000:]
    return Challenge(pipeline, housing.push("deploy-production", needs=False))


def test_a_better_challenger_becomes_v2_serves_staging_and_awaits_approval(
    housing: Repository, better: Challenge
) -> None:
    """The challenger is gated against the champion v1 (not skipped, not against itself),
    registered as v2 and pushed under its own tag; staging switches to it while production
    still serves the champion until the approver plays the production job."""
    assert housing.spec is not None
    run = better.pipeline
    assert run.passed() == set(JOBS), run.out[-3000:]
    assert "step cache hit" not in run.log("train"), "the params changed: trained again"
    assert re.search(r"mse <= champion \+ 0\.05: passed", run.log("evaluate"))
    registry = MlflowRegistry(housing.registry_url)
    assert [v.version for v in registry.list(housing.model)] == [1, 2]
    champion, challenger = registry.get(housing.model, 1), registry.get(housing.model, 2)
    assert challenger.metrics["mse"] < champion.metrics["mse"], challenger.metrics
    assert challenger.git_sha == git(housing.root, "rev-parse", "HEAD").strip()
    assert challenger.params["epochs"] in (120, "120")
    image = housing.spec.image
    repository = housing.spec.image_repository
    assert manifest_digest_at_registry(image.registry, repository, "v2") == challenger.image_digest
    assert manifest_digest_at_registry(image.registry, repository, "latest") == (
        challenger.image_digest
    )
    assert manifest_digest_at_registry(image.registry, repository, "v1") == champion.image_digest
    assert challenger.image_digest != champion.image_digest
    (staging, _) = housing.spec.deploy.environments
    assert "deploy-production" not in run.passed()
    assert better.approval.proc.returncode == 0, better.approval.out[-6000:]
    assert ready(f"http://127.0.0.1:{staging.port}")["model_version"] == "2"


def test_approving_the_better_challenger_replaces_the_champion_in_production(
    housing: Repository, better: Challenge
) -> None:
    assert housing.spec is not None
    assert better.approval.passed() == {"deploy-production"}, better.approval.out[-3000:]
    (_, production) = housing.spec.deploy.environments
    status = ready(f"http://127.0.0.1:{production.port}")
    challenger = MlflowRegistry(housing.registry_url).get(housing.model, 2)
    assert status["model_version"] == "2"
    assert status["manifest_digest"] == challenger.manifest_digest
    champion = MlflowRegistry(housing.registry_url).champion(housing.model)
    assert champion is not None and champion.version == 2
