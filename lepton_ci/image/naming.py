"""Image names and tags, source metadata, and the dotenv files the image steps hand on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lepton_ci.gitinfo import commit, current_branch, git, strip_userinfo
from lepton_ci.spec.model import Spec


@dataclass(frozen=True)
class Source:
    """Where the image's code comes from (for tags and OCI labels)."""

    commit: str | None
    branch: str | None
    url: str | None


def source_info(root: Path) -> Source:
    """Commit, branch and project URL from CI variables (Jenkins, GitLab) or git."""
    env = os.environ
    url = (
        env.get("CI_PROJECT_URL") or env.get("GIT_URL") or git(root, "remote", "get-url", "origin")
    )
    return Source(
        commit=commit(root),
        branch=current_branch(root),
        url=strip_userinfo(url) if url else None,
    )


def repository(spec: Spec) -> str:
    """``registry[/namespace]/repository`` without a tag."""
    return f"{spec.image.registry}/{spec.image_repository}"


def version_tag(version: str) -> str:
    return f"v{version}"


def commit_tag(commit: str) -> str:
    return f"git-{commit[:12]}"


def image_tags(spec: Spec, *, model_version: str | None, source: Source) -> list[str]:
    """Tags (without the repository): model version, git commit, and the moving tag when the
    build runs on the default branch. The first one is the primary tag."""
    tags = []
    if model_version:
        tags.append(version_tag(model_version))
    if source.commit:
        tags.append(commit_tag(source.commit))
    if source.branch == spec.project.default_branch:
        tags.append(spec.image.moving_tag)
    return tags or ["dev"]
