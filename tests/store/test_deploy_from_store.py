"""Deploy and roll back registered versions with no run directory: the files come from the
artifact store (target local), on a machine that never trained."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_ci.deploy.local import LocalRuntime
from lepton_ci.netutil import free_port
from tests.deploy.load import serving
from tests.deploy.models import write_model

from .conftest import Lepton, Store, evaluate

pytestmark = pytest.mark.slow

SPEC = """\
project: {{name: Deploy Test, model: deploy-test}}
train: {{entrypoint: "pkg.train:main"}}
evaluate: {{entrypoint: "pkg.evaluate:main"}}
image: {{port: {port}}}
deploy:
  environments:
    - {{name: dev, target: local, port: {port}}}
registry: {{path: '{registry}'}}
"""


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def checkouts(tmp_path: Path, port: int, store: Store) -> Iterator[tuple[Path, Path]]:
    """Two checkouts of one project sharing a registry and a store: ``laptop`` trains and
    registers, ``agent`` only deploys."""
    text = SPEC.format(port=port, registry=tmp_path / "shared" / "registry.db")
    roots = tmp_path / "laptop", tmp_path / "agent"
    for root in roots:
        root.mkdir()
        (root / "lepton.yaml").write_text(text)
    yield roots
    LocalRuntime(roots[1], "dev", "127.0.0.1", port).shutdown()


def train_and_register(lepton: Lepton, laptop: Path, seed: int) -> None:
    run = laptop / ".lepton" / "run"
    write_model(run / "train", seed)
    evaluate(run, model="deploy-test")
    code, _, err = lepton("models", "register", cwd=laptop)
    assert code == 0, err


def test_deploy_the_champion_from_a_checkout_that_never_trained_then_roll_back(
    lepton: Lepton, checkouts: tuple[Path, Path]
) -> None:
    laptop, agent = checkouts
    train_and_register(lepton, laptop, seed=1)
    assert lepton("models", "promote", "1", cwd=laptop)[0] == 0

    code, out, err = lepton("deploy", "--env", "dev", "--alias", "champion", cwd=agent)
    assert code == 0, err
    url = out.split(" at ")[-1].strip()
    assert "version 1 succeeded" in out and serving(url) == 1
    assert not (agent / ".lepton" / "run" / "train").exists()  # pulled, not trained
    assert (agent / ".lepton" / "models" / "deploy-test" / "1" / "model.pt").is_file()

    train_and_register(lepton, laptop, seed=2)
    code, out, err = lepton("deploy", "--env", "dev", "--version", "2", cwd=agent)
    assert code == 0, err
    assert serving(url) == 2

    # a fresh machine's view: no run directory, no pulled or served copies of the files
    for gone in (".lepton/run", ".lepton/models", ".lepton/deploy/dev/releases"):
        shutil.rmtree(agent / gone)
    code, out, err = lepton("rollback", "--env", "dev", cwd=agent)
    assert code == 0, err
    assert "version 1 succeeded" in out and serving(url) == 1


def test_deploy_refuses_both_a_version_and_an_alias(
    lepton: Lepton, checkouts: tuple[Path, Path]
) -> None:
    args = ("deploy", "--env", "dev", "--version", "1", "--alias", "x")
    code, _, err = lepton(*args, cwd=checkouts[1])
    assert code == 2 and "not both" in err


def test_deploying_an_unknown_alias_names_it(lepton: Lepton, checkouts: tuple[Path, Path]) -> None:
    laptop, agent = checkouts
    train_and_register(lepton, laptop, seed=1)
    code, _, err = lepton("deploy", "--env", "dev", "--alias", "champion", cwd=agent)
    assert code != 0 and "Traceback" not in err
    assert "has no version @champion" in err
