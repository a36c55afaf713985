"""What each generated job installs (issue 8, break 1): the extras its own step imports, the
repository's dependencies where its code runs, the user's pins as constraints everywhere, from
an extra index. Read from the pipeline model, which every renderer and `lepton-ci run` use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_ci.errors import SpecError
from lepton_ci.generate import InitOptions, check_repo, detect_defaults, starter_spec
from lepton_ci.pipeline import Pipeline, build_pipeline
from lepton_ci.spec.loader import parse_spec

SPEC = """\
version: 1
project: {name: housing}
lepton-ci: {version: 0.1.0%(lepton)s}
train: {command: python train.py}
evaluate: {command: python evaluate.py}
deploy:
  environments:
    - {name: dev, target: local}
    - {name: staging, target: docker}
    - {name: prod, target: kubernetes}
%(extra)s"""


def pipeline(lepton: str = "", extra: str = "") -> Pipeline:
    text = SPEC % {"lepton": lepton, "extra": extra}
    return build_pipeline(parse_spec(text, "lepton.yaml"))


def pip_install(p: Pipeline, job: str) -> tuple[str, ...]:
    venv, pip = p.setup(p.job(job))
    assert venv == ("python3", "-m", "venv", ".lepton/venv")
    return pip


def requirement(p: Pipeline, job: str) -> str:
    return pip_install(p, job)[-1]


def test_each_job_installs_the_extras_its_step_imports() -> None:
    p = pipeline()
    assert {job.name: requirement(p, job.name) for job in p.jobs} == {
        "train": "lepton-ci[train]==0.1.0",
        "evaluate": "lepton-ci[train]==0.1.0",
        "register": "lepton-ci==0.1.0",
        "image-build": "lepton-ci[docker]==0.1.0",
        "image-push": "lepton-ci[docker]==0.1.0",
        "deploy-dev": "lepton-ci[serve]==0.1.0",  # a local deploy serves the model itself
        "deploy-staging": "lepton-ci[docker]==0.1.0",
        "deploy-prod": "lepton-ci[kubernetes]==0.1.0",
        "metrics-push": "lepton-ci[metrics]==0.1.0",
        "report": "lepton-ci[report]==0.1.0",
    }
    assert p.job("image-build").extras == ("docker",)


def test_an_mlflow_registry_adds_mlflow_where_the_registry_is_opened() -> None:
    p = pipeline(extra="registry: {backend: mlflow, tracking_uri: 'http://127.0.0.1:5001'}\n")
    with_mlflow = {job.name for job in p.jobs if "mlflow" in job.extras}
    # evaluate opens the registry only for champion-relative gates (none here)
    assert with_mlflow == {j.name for j in p.jobs} - {"train", "evaluate", "image-build", "report"}
    assert requirement(p, "register") == "lepton-ci[mlflow]==0.1.0"
    assert requirement(p, "metrics-push") == "lepton-ci[metrics,mlflow]==0.1.0"


def test_extras_written_in_the_package_reach_every_job() -> None:
    p = pipeline(lepton=", package: 'lepton-ci[report]'")
    assert requirement(p, "register") == "lepton-ci[report]==0.1.0"
    assert requirement(p, "image-push") == "lepton-ci[docker,report]==0.1.0"


def test_user_pins_constrain_every_job_and_requirements_go_where_the_code_runs() -> None:
    p = pipeline(lepton=", requirements: [requirements.txt]")
    train = pip_install(p, "train")
    assert train[5:] == ("-c", "requirements.txt", "-r", "requirements.txt", train[-1])
    assert pip_install(p, "deploy-dev")[5:9] == ("-c", "requirements.txt", "-r", "requirements.txt")
    # no torch for pushes, remote deploys and metrics: only the pins, nothing of the user's
    push = pip_install(p, "image-push")
    assert push[5:] == ("-c", "requirements.txt", "lepton-ci[docker]==0.1.0")
    assert "-r" not in pip_install(p, "metrics-push")


def test_explicit_constraints_and_the_project_itself() -> None:
    p = pipeline(
        lepton=", requirements: [req/base.txt], constraints: [req/lock.txt], install_project: true"
    )
    assert pip_install(p, "evaluate")[5:-1] == (
        "-c", "req/lock.txt", "-r", "req/base.txt", "-e", ".",
    )  # fmt: skip
    assert pip_install(p, "register")[5:-1] == ("-c", "req/lock.txt")
    assert p.install.cache_files == ("req/lock.txt", "req/base.txt")
    assert pipeline(lepton=", requirements: [r.txt], constraints: []").install.constraints == ()


def test_the_index_is_an_extra_one() -> None:
    p = pipeline(lepton=", index_url: 'http://127.0.0.1:8080/simple/'")
    pip = pip_install(p, "train")
    assert pip[5:7] == ("--extra-index-url", "http://127.0.0.1:8080/simple/")
    assert "--index-url" not in pip  # pip's default index (or $PIP_INDEX_URL) stays in use


def test_parity_sequences_hold_each_jobs_own_setup() -> None:
    p = pipeline()
    sequence = p.command_sequence()
    build = [cmd for job, cmd in sequence if job == "image-build"]
    assert build == [*p.setup(p.job("image-build")), ("lepton-ci", "image", "build")]


def test_a_preinstalled_lepton_ci_installs_nothing() -> None:
    p = pipeline(lepton=", agent_image: 'registry.example.com/lepton-ci:0.1.0'")
    assert all(p.setup(job) == () for job in p.jobs)


def test_a_requirements_path_outside_the_repository_is_a_clear_error() -> None:
    with pytest.raises(SpecError) as failure:
        pipeline(lepton=", requirements: ['../outside.txt']")
    assert "lepton-ci.requirements[0]: must be a file path relative to the repository root" in str(
        failure.value
    )


def test_init_lists_the_repositorys_requirements(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("torch==2.3.1\n")
    spec = parse_spec(starter_spec(detect_defaults(tmp_path, InitOptions())), "lepton.yaml")
    assert spec.lepton_ci.requirements == ["requirements.txt"]
    assert not spec.lepton_ci.install_project


def test_init_installs_a_pyproject_project_without_requirements(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "housing"\n')
    spec = parse_spec(starter_spec(detect_defaults(tmp_path, InitOptions())), "lepton.yaml")
    assert spec.lepton_ci.requirements == [] and spec.lepton_ci.install_project


def test_the_housing_example_installs_its_own_pinned_requirements() -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "housing"
    check_repo(root)  # its committed CI files are what its spec renders
    text = (root / ".gitlab-ci.yml").read_text(encoding="utf-8")
    assert "-c requirements.txt -r requirements.txt 'lepton-ci[train]==" in text
    assert "torch==" in (root / "requirements.txt").read_text(encoding="utf-8")


def test_validate_warns_about_an_unpinned_torch_and_lines_pip_refuses_as_constraints(
    tmp_path: Path,
) -> None:
    from lepton_ci.pipeline.install_check import install_warnings

    text = SPEC % {"lepton": ", requirements: [requirements.txt, extra.txt]", "extra": ""}
    spec = parse_spec(text, "lepton.yaml")
    (tmp_path / "requirements.txt").write_text("numpy==1.26.4\n-e .\nuvicorn[standard]==0.30\n")
    warnings = install_warnings(spec, tmp_path)
    assert warnings == [
        "requirements.txt:2: pip refuses '-e .' in a constraints file (`-c`); "
        "set lepton-ci.constraints to a file of `name==version` pins",
        "requirements.txt:3: pip refuses 'uvicorn[standard]==0.30' in a constraints file (`-c`); "
        "set lepton-ci.constraints to a file of `name==version` pins",
        "lepton-ci: extra.txt does not exist; every job's pip install would fail",
        warnings[-1],
    ]
    assert warnings[-1].startswith("lepton-ci: no `torch==` pin")
    (tmp_path / "extra.txt").write_text("torch==2.3.1+cpu  # CPU build\n")
    (tmp_path / "requirements.txt").write_text("numpy==1.26.4\n")
    assert install_warnings(spec, tmp_path) == []
