"""The platform-neutral pipeline model: the one thing every renderer and `lepton-ci run` reads."""

from lepton_ci.pipeline.build import build_pipeline
from lepton_ci.pipeline.model import (
    Agent,
    Approval,
    Command,
    Credential,
    Environment,
    Install,
    Job,
    Pipeline,
    Reports,
    Rule,
    Schedule,
)

__all__ = [
    "Agent",
    "Approval",
    "Command",
    "Credential",
    "Environment",
    "Install",
    "Job",
    "Pipeline",
    "Reports",
    "Rule",
    "Schedule",
    "build_pipeline",
]
