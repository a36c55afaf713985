"""The run directory's hand-off files: each record reads back what was written, byte for byte
the format the generated pipelines read, and a file that is there but broken is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_ci.run_dir import ImageBuild, ImagePush, ModelEnv, RunDir, RunFileError


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir.at(tmp_path / "run")


def test_paths_are_the_layouts_under_the_run_directory(run: RunDir) -> None:
    assert run.manifest == run.path / "train" / "manifest.json"
    assert run.metrics_json == run.path / "evaluate" / "metrics.json"
    assert run.junit == run.path / "evaluate" / "junit.xml"
    assert run.model_env == run.path / "register" / "model.env"
    assert run.image_build_env == run.path / "image" / "build.env"
    assert run.image_env == run.path / "image" / "image.env"
    assert run.deploy_env("prod") == run.path / "deploy" / "prod.env"
    assert run.report_html == run.path / "report" / "index.html"


def test_a_missing_hand_off_file_reads_as_none(run: RunDir) -> None:
    assert run.read_model_env() is None
    assert run.read_image_build() is None
    assert run.read_image_push() is None
    assert run.read_deploy_url("dev") is None
    assert run.deployed_environments() == []


def test_model_env_round_trips_in_the_register_jobs_format(run: RunDir) -> None:
    path = run.write_model_env(ModelEnv("digits", 3))
    assert path.read_text() == "LEPTON_MODEL_NAME=digits\nLEPTON_MODEL_VERSION=3\n"
    assert run.read_model_env() == ModelEnv("digits", 3)


@pytest.mark.parametrize(
    "text",
    [
        "LEPTON_MODEL_NAME=digits\n",
        "LEPTON_MODEL_VERSION=3\n",
        "LEPTON_MODEL_NAME=d\nLEPTON_MODEL_VERSION=x\n",
    ],
    ids=["no-version", "no-name", "version-not-a-number"],
)
def test_a_model_env_without_name_and_version_says_who_writes_it(run: RunDir, text: str) -> None:
    run.model_env.parent.mkdir(parents=True)
    run.model_env.write_text(text)
    with pytest.raises(RunFileError, match="lacks LEPTON_MODEL_NAME / LEPTON_MODEL_VERSION") as err:
        run.read_model_env()
    assert err.value.hint == "it is written by `lepton-ci models register`; do not edit it"


def test_an_unreadable_hand_off_file_is_an_error_naming_it(run: RunDir) -> None:
    run.model_env.parent.mkdir(parents=True)
    run.model_env.write_bytes(b"\xff\xfe")
    with pytest.raises(RunFileError, match=r"model\.env: not a readable dotenv file"):
        run.read_model_env()


def test_image_build_round_trips_with_and_without_a_staged_image(run: RunDir) -> None:
    staged = ImageBuild(("r/m:3", "r/m:abc"), "sha256:1", "r/m@sha256:2")
    run.write_image_build(staged)
    assert run.image_build_env.read_text() == (
        "LEPTON_IMAGE_ID=sha256:1\nLEPTON_IMAGE_TAGS=r/m:3,r/m:abc\nLEPTON_IMAGE_STAGED=r/m@sha256:2\n"
    )
    assert run.read_image_build() == staged
    run.write_image_build(ImageBuild(("r/m:3",), "sha256:1"))
    assert run.image_build_env.read_text() == "LEPTON_IMAGE_ID=sha256:1\nLEPTON_IMAGE_TAGS=r/m:3\n"
    assert run.read_image_build() == ImageBuild(("r/m:3",), "sha256:1")


def test_a_build_env_naming_no_tags_reads_as_no_tags(run: RunDir) -> None:
    run.image_build_env.parent.mkdir(parents=True)
    run.image_build_env.write_text("LEPTON_IMAGE_ID=sha256:1\n")
    assert run.read_image_build() == ImageBuild((), "sha256:1")


def test_image_push_round_trips_in_the_push_jobs_format(run: RunDir) -> None:
    pushed = ImagePush("r/m:3", "sha256:2", "r/m@sha256:2")
    run.write_image_push(pushed)
    assert run.image_env.read_text() == (
        "LEPTON_IMAGE=r/m:3\nLEPTON_IMAGE_DIGEST=sha256:2\nLEPTON_IMAGE_REF=r/m@sha256:2\n"
    )
    assert run.read_image_push() == pushed


def test_an_image_env_without_an_image_says_who_writes_it(run: RunDir) -> None:
    run.image_env.parent.mkdir(parents=True)
    run.image_env.write_text("LEPTON_IMAGE_DIGEST=sha256:2\n")
    with pytest.raises(RunFileError, match=r"image\.env lacks LEPTON_IMAGE") as err:
        run.read_image_push()
    assert err.value.hint == "it is written by `lepton-ci image push`; do not edit it"


def test_deploy_urls_round_trip_per_environment(run: RunDir) -> None:
    run.write_deploy_url("prod", "https://m.example")
    run.write_deploy_url("dev", "http://127.0.0.1:8080")
    assert run.deploy_env("prod").read_text() == "LEPTON_DEPLOY_URL=https://m.example\n"
    assert run.deployed_environments() == ["dev", "prod"]
    assert run.read_deploy_url("dev") == "http://127.0.0.1:8080"


def test_a_value_a_dotenv_reader_would_misread_is_refused(run: RunDir) -> None:
    with pytest.raises(ValueError, match="cannot be written to a dotenv file"):
        run.write_deploy_url("dev", "http://a b")
    assert not run.deploy_env("dev").exists()
