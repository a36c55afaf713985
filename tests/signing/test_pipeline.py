"""The generated pipelines install model-signing (`lepton-ci[sign]`) where a job signs or
verifies: register, and deploys that serve the run directory (target local)."""

from __future__ import annotations

from lepton_ci.pipeline.build import build_pipeline
from lepton_ci.spec.loader import parse_spec

SPEC = """\
version: 1
project: {name: Tiny, model: tiny}
train: {entrypoint: tiny.train:train}
evaluate: {entrypoint: tiny.evaluate:evaluate}
deploy:
  environments:
    - {name: dev, target: local}
    - {name: production, target: docker}
"""


def extras(text: str) -> dict[str, tuple[str, ...]]:
    return {job.name: job.extras for job in build_pipeline(parse_spec(text, "lepton.yaml")).jobs}


def test_signing_jobs_install_the_sign_extra() -> None:
    signed = extras(SPEC + "registry:\n  signing: {public_key: keys/team.pub}\n")
    assert {name for name, wanted in signed.items() if "sign" in wanted} == {
        "register",
        "deploy-dev",
    }
    assert not any("sign" in wanted for wanted in extras(SPEC).values())
