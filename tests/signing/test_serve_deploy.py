"""`serve` and `deploy` verify the signature and the digests before anything is loaded: a
tampered signed model, a missing signature and another key's signature never start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lepton_ci.deploy.core import deploy
from lepton_ci.deploy.local import terminate
from lepton_ci.netutil import free_port
from lepton_ci.registration import register_run
from lepton_ci.registry import open_registry
from lepton_ci.runtime.manifest import SIGNATURE
from lepton_ci.signing import (
    MissingSignature,
    SignatureRefused,
    fingerprint,
    policy_from_spec,
    sign,
)
from lepton_ci.spec.loader import load_spec
from tests.services import make_tiny_model

from .conftest import KeyPair, private, project, rewrite, set_registry_file, signature_by

BACKDOOR = b'["setosa", "versicolor", "BACKDOOR"]'


@pytest.fixture
def signed_model(tmp_path: Path, team: KeyPair) -> Path:
    """A model directory as `models pull` leaves it: files, manifest and model.sig."""
    model_dir = make_tiny_model(tmp_path / "model")
    bundle, _ = sign(model_dir, private(team))
    (model_dir / SIGNATURE).write_bytes(bundle)
    return model_dir


def serve(model_dir: Path, public_key: Path, required: bool = True) -> tuple[int, str, int]:
    """`lepton-ci serve` as the image runs it (no spec: the key from the environment), until it
    exits or answers /readyz: (exit code or 0 when it served, output, port)."""
    port = free_port()
    env = {
        **os.environ,
        "LEPTON_SIGNING_PUBLIC_KEY": str(public_key),
        "LEPTON_SIGNING_REQUIRED": "1" if required else "",
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "lepton_ci", "serve", "--model-dir", str(model_dir)),
            *("--port", str(port), "--spec", str(model_dir / "no-spec.yaml")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=model_dir.parent,
        start_new_session=True,
    )
    try:
        while proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    proc.terminate()
                    out, _ = proc.communicate(timeout=30)
                    return 0, out, port
            except httpx.TransportError:
                pass
        out, _ = proc.communicate(timeout=30)
        return proc.returncode, out, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_loads_a_model_whose_signature_verifies(signed_model: Path, team: KeyPair) -> None:
    code, out, _ = serve(signed_model, team.public)
    assert code == 0, out
    assert f"signature verified: signed by key {fingerprint(team.public.read_bytes())}" in out


@pytest.mark.parametrize(
    "damage, words",
    [
        ("tampered", "file 'labels.json' has 36 bytes, the manifest says 37"),
        ("rewritten manifest", "'labels.json' differs from the signed digest"),
        ("no signature", "it has no signature (model.sig)"),
        ("another key", "its signature was made by key"),
    ],
)
def test_serve_refuses_before_loading_anything(
    damage: str, words: str, signed_model: Path, team: KeyPair, other: KeyPair
) -> None:
    if damage == "tampered":
        (signed_model / "labels.json").write_bytes(BACKDOOR)
    elif damage == "rewritten manifest":
        rewrite(signed_model, "labels.json", BACKDOOR)
    elif damage == "no signature":
        (signed_model / SIGNATURE).unlink()
    else:
        (signed_model / SIGNATURE).write_bytes(signature_by(other, signed_model))
    code, out, port = serve(signed_model, team.public)
    assert code != 0 and words in out, out
    assert "Traceback" not in out and "model ready" not in out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_serve_without_a_required_signature_says_unsigned(
    signed_model: Path, team: KeyPair
) -> None:
    (signed_model / SIGNATURE).unlink()
    code, out, _ = serve(signed_model, team.public, required=False)
    assert code == 0, out
    assert "unsigned: no model.sig" in out


ENVIRONMENTS = """\
deploy:
  environments:
    - {{name: dev, target: local, port: {port}}}
"""


@pytest.fixture
def deployable(tmp_path: Path, team: KeyPair) -> Iterator[Path]:
    """A checkout whose run directory holds version 1, registered and signed (and, should a
    deploy get through, its processes stopped afterwards)."""
    registry = tmp_path / "shared" / "registry.db"
    root = project(tmp_path / "repo", registry)
    with (root / "lepton.yaml").open("a") as spec:
        spec.write(ENVIRONMENTS.format(port=free_port()))
    spec = load_spec(root / "lepton.yaml")
    with open_registry(spec, root) as reg:
        register_run(
            reg,
            root / ".lepton" / "run",
            model="tiny",
            key=private(team),
            policy=policy_from_spec(spec, root),
        )
    yield root
    state = root / ".lepton" / "deploy" / "dev"
    pids = (
        [int(b["handle"]) for b in json.loads((state / "backends.json").read_text())]
        if (state / "backends.json").exists()
        else []
    )
    if (state / "front.pid").exists():
        pids.append(int((state / "front.pid").read_text()))
    for pid in pids:
        terminate(pid, 5)


def deploy_dev(root: Path) -> None:
    spec = load_spec(root / "lepton.yaml")
    with open_registry(spec, root) as reg:
        deploy(spec, "dev", run_dir=root / ".lepton" / "run", root=root, registry=reg)


def nothing_started(root: Path) -> bool:
    backends = root / ".lepton" / "deploy" / "dev" / "backends.json"
    return not backends.exists() or json.loads(backends.read_text()) == []


def test_deploy_refuses_a_tampered_signed_model_before_starting_it(deployable: Path) -> None:
    train = deployable / ".lepton" / "run" / "train"
    rewrite(train, "labels.json", BACKDOOR)
    with pytest.raises(SignatureRefused, match=r"'labels\.json' differs from the signed digest"):
        deploy_dev(deployable)
    assert nothing_started(deployable)


def test_deploy_refuses_a_version_whose_signature_is_missing(deployable: Path) -> None:
    set_registry_file(deployable.parent / "shared" / "registry.db", 1, SIGNATURE, None)
    with pytest.raises(MissingSignature, match=r"registry\.signing requires one"):
        deploy_dev(deployable)
    assert nothing_started(deployable)


def test_deploy_refuses_a_signature_by_another_key(deployable: Path, other: KeyPair) -> None:
    train = deployable / ".lepton" / "run" / "train"
    set_registry_file(
        deployable.parent / "shared" / "registry.db", 1, SIGNATURE, signature_by(other, train)
    )
    signer = fingerprint(other.public.read_bytes())
    with pytest.raises(SignatureRefused, match=f"made by key {signer}, not by the key"):
        deploy_dev(deployable)
    assert nothing_started(deployable)


def test_deploy_hands_the_verified_signature_to_the_served_directory(deployable: Path) -> None:
    from lepton_ci.deploy.core import _release_from_run_dir, environment

    spec = load_spec(deployable / "lepton.yaml")
    with open_registry(spec, deployable) as reg:
        release = _release_from_run_dir(
            spec, environment(spec, "dev"), deployable / ".lepton" / "run", reg, deployable
        )
    assert release.model_dir is not None
    assert (release.model_dir / SIGNATURE).is_file()  # so the serve process verifies it too


IMAGE_ENVIRONMENTS = """\
deploy:
  environments:
    - {name: prod, target: docker}
"""


@pytest.fixture
def image_project(tmp_path: Path, team: KeyPair) -> Path:
    """Version 1 registered, signed and stored; its image pushed (image/image.env)."""
    from lepton_ci.store import open_store

    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    with (root / "lepton.yaml").open("a") as spec:
        spec.write(IMAGE_ENVIRONMENTS)
    spec = load_spec(root / "lepton.yaml")
    store = open_store(spec, root)
    with open_registry(spec, root) as reg:
        register_run(
            reg,
            root / ".lepton" / "run",
            model="tiny",
            store=store,
            key=private(team),
            policy=policy_from_spec(spec, root),
        )
    image = root / ".lepton" / "run" / "image" / "image.env"
    image.parent.mkdir(parents=True)
    image.write_text("LEPTON_IMAGE=registry:5000/tiny:1\nLEPTON_IMAGE_DIGEST=sha256:" + "a" * 64)
    return root


def image_release(root: Path) -> object:
    from lepton_ci.deploy.core import _release_from_run_dir, environment

    spec = load_spec(root / "lepton.yaml")
    with open_registry(spec, root) as reg:
        env = environment(spec, "prod")
        return _release_from_run_dir(spec, env, root / ".lepton" / "run", reg, root)


def test_an_image_deploy_checks_the_signature_over_the_version_s_recorded_files(
    image_project: Path,
) -> None:
    assert image_release(image_project) is not None


@pytest.mark.parametrize(
    "damage, words",
    [
        ("rewritten record", "'labels.json' differs from the signed digest"),
        ("no signature", "it has no signature (model.sig)"),
        ("another key", "its signature was made by key"),
        ("forged", "its signature does not verify with key"),
    ],
)
def test_an_image_deploy_refuses_before_touching_the_image(
    damage: str, words: str, image_project: Path, team: KeyPair, other: KeyPair
) -> None:
    from .conftest import registry_file

    database = image_project.parent / "shared" / "registry.db"
    if damage == "rewritten record":  # the backdoored labels.json's digest in artifacts.json
        record = json.loads(registry_file(database, 1, "artifacts.json"))
        record["files"]["labels.json"]["sha256"] = "b" * 64
        set_registry_file(database, 1, "artifacts.json", json.dumps(record).encode())
    elif damage == "no signature":
        set_registry_file(database, 1, SIGNATURE, None)
    else:  # another key's signature, naming that key or (forged) the team's
        bundle = json.loads(signature_by(other, image_project / ".lepton" / "run" / "train"))
        if damage == "forged":
            hint = fingerprint(team.public.read_bytes()).removeprefix("sha256:")
            bundle["verificationMaterial"]["publicKey"]["hint"] = hint
        set_registry_file(database, 1, SIGNATURE, json.dumps(bundle).encode())
    with pytest.raises(SignatureRefused) as refused:
        image_release(image_project)
    assert words in str(refused.value)
