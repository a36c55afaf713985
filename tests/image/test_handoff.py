"""`image build` and `image push` on different agents (issue 8, break 3).

On GitLab's Docker-in-Docker or Kubernetes executors, and on another Jenkins node, the push job
has no access to the engine that built the image. The build stages the image in the registry
under a build tag and hands on ``repository@digest``; the push moves the release tags there:
with skopeo, registry to registry and with no engine at all; without skopeo, through whatever
engine the push job has, which pulls the digest first.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lepton_ci.dotenv import read_dotenv, write_dotenv
from lepton_ci.image import build_image, push_image, skopeo
from lepton_ci.layout import LAYOUT
from lepton_ci.registry import open_registry
from tests.image.project import make_project, spec_of, train_and_register
from tests.image.test_build_push import manifest_digest_at_registry, remove_images

NO_ENGINE = "unix:///nonexistent/docker.sock"


@pytest.fixture(scope="module")
def built(tmp_path_factory, base_image: str, local_registry: str, docker_client, lepton_wheel):
    repo = f"lepton-test/handoff-{uuid.uuid4().hex[:8]}"
    where = tmp_path_factory.mktemp("handoff")
    root = make_project(where, base=base_image, registry=local_registry, repository=repo)
    train_and_register(root, seed=0)
    result = build_image(
        spec_of(root), root=root, run_dir=root / ".lepton/run", wheel=str(lepton_wheel)
    )
    yield root, result
    remove_images(docker_client, f"{local_registry}/{repo}")


def push_cli(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lepton_ci", "image", "push"],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.docker
@pytest.mark.slow
def test_the_build_stages_its_image_by_digest_without_moving_a_release_tag(
    built, local_registry: str
) -> None:
    root, result = built
    repo = spec_of(root).image.repository
    staged = read_dotenv(root / str(LAYOUT.image_build_env))["LEPTON_IMAGE_STAGED"]
    assert staged == result.staged and staged.startswith(f"{local_registry}/{repo}@sha256:")
    build_tag = "build-" + result.image_id.removeprefix("sha256:")[:12]
    assert f"@{manifest_digest_at_registry(local_registry, repo, build_tag)}" in staged
    with pytest.raises(Exception, match="404"):
        manifest_digest_at_registry(local_registry, repo, "v1")


@pytest.mark.docker
@pytest.mark.slow
def test_a_push_job_with_no_docker_engine_tags_and_records_the_built_digest(
    built, local_registry: str
) -> None:
    if not skopeo.available():
        pytest.fail("skopeo is needed: run `bash .ci/setup`")
    root, result = built
    pushed = push_cli(root, DOCKER_HOST=NO_ENGINE)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    digest = result.staged.rpartition("@")[2]
    spec = spec_of(root)
    for ref in result.references:
        tag = ref.rpartition(":")[2]
        assert manifest_digest_at_registry(local_registry, spec.image.repository, tag) == digest
    assert read_dotenv(root / str(LAYOUT.image_env))["LEPTON_IMAGE_DIGEST"] == digest
    with open_registry(spec, root) as registry:
        assert registry.get("tiny", 1).image_digest == digest
    assert "0 bytes uploaded" in pushed.stderr + pushed.stdout


@pytest.mark.docker
@pytest.mark.slow
def test_an_engine_without_the_image_pulls_the_digest_when_skopeo_is_missing(
    built, docker_client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, result = built
    docker_client.images.remove(result.image_id, force=True)  # as if built on another engine
    monkeypatch.setattr(skopeo, "available", lambda: False)
    pushed = push_image(spec_of(root), root=root, run_dir=root / ".lepton/run", backoff=0.2)
    log = capsys.readouterr().err
    assert "skopeo not found" in log and "built on another engine" in log
    assert pushed.via == "engine" and pushed.digest == result.staged.rpartition("@")[2]


@pytest.mark.docker
@pytest.mark.slow
def test_no_tag_moves_when_the_version_is_not_in_the_registry(built, local_registry: str) -> None:
    root, result = built
    spec = spec_of(root)
    model_env = root / str(LAYOUT.model_env)
    before = model_env.read_text()
    write_dotenv(model_env, {"LEPTON_MODEL_NAME": "tiny", "LEPTON_MODEL_VERSION": "7"})
    build_env = root / str(LAYOUT.image_build_env)
    saved = build_env.read_text()
    refs = [r.replace(":v1", ":v7") for r in result.references]
    write_dotenv(build_env, {**read_dotenv(build_env), "LEPTON_IMAGE_TAGS": ",".join(refs)})
    try:
        pushed = push_cli(root, DOCKER_HOST=NO_ENGINE)
        assert pushed.returncode != 0
        assert "version 7" in pushed.stderr and "Traceback" not in pushed.stderr
        with pytest.raises(Exception, match="404"):
            manifest_digest_at_registry(local_registry, spec.image.repository, "v7")
    finally:
        model_env.write_text(before)
        build_env.write_text(saved)


def test_registry_credentials_reach_skopeo_in_a_private_file_never_in_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in skopeo records its argv and the auth file it was given (its mode, its
    content) and writes the digest, as the real one does with --digestfile."""
    fake = tmp_path / "skopeo"
    record = tmp_path / "record"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {record}.argv\n'
        'while [ $# -gt 0 ]; do case "$1" in\n'
        f'  --authfile) stat -c %a "$2" > {record}.mode; cat "$2" > {record}.auth; shift;;\n'
        '  --digestfile) printf sha256:abc > "$2"; shift;;\n'
        "esac; shift; done\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    password = "s3cret-" + uuid.uuid4().hex
    auth = {"username": "ci-bot", "password": password}
    digest = skopeo.retag("reg.example.com/m@sha256:abc", "reg.example.com/m:v1", auth=auth)
    assert digest == "sha256:abc"
    argv = Path(f"{record}.argv").read_text().split()
    assert not [word for word in argv if password in word or "ci-bot" in word]
    assert "--dest-tls-verify=true" in argv  # only loopback registries are plain HTTP
    assert Path(f"{record}.mode").read_text().strip() == "600"
    assert "reg.example.com" in Path(f"{record}.auth").read_text()
    assert not Path(argv[argv.index("--authfile") + 1]).exists()  # removed after the copy


def test_a_skopeo_failure_is_a_server_error_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "s3cret-" + uuid.uuid4().hex
    fake = tmp_path / "skopeo"
    fake.write_text(f"#!/bin/sh\necho 'unauthorized: bad {password}' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    from lepton_ci.errors import ServerError

    auth = {"username": "ci-bot", "password": password}
    with pytest.raises(ServerError) as caught:
        skopeo.retag("127.0.0.1:5000/m@sha256:abc", "127.0.0.1:5000/m:v1", auth=auth)
    assert "unauthorized" in str(caught.value) and password not in str(caught.value)
