"""Image names and tags, source metadata, and the dotenv files the image steps hand on."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from lepton_ci.spec.model import Spec


@dataclass(frozen=True)
class Source:
    """Where the image's code comes from (for tags and OCI labels)."""

    commit: str | None
    branch: str | None
    url: str | None


def _git(root: Path, *args: str) -> str | None:
    import subprocess

    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def strip_userinfo(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``: remotes may carry credentials."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.I)


def source_info(root: Path) -> Source:
    """Commit, branch and project URL from CI variables (Jenkins, GitLab) or git."""
    env = os.environ
    commit = env.get("CI_COMMIT_SHA") or env.get("GIT_COMMIT") or _git(root, "rev-parse", "HEAD")
    branch = (
        env.get("CI_COMMIT_BRANCH")
        or env.get("BRANCH_NAME")
        or env.get("GIT_BRANCH", "").removeprefix("origin/")
        or _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    )
    if branch == "HEAD":
        branch = None
    url = (
        env.get("CI_PROJECT_URL") or env.get("GIT_URL") or _git(root, "remote", "get-url", "origin")
    )
    return Source(commit=commit, branch=branch, url=strip_userinfo(url) if url else None)


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


def read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def write_dotenv(path: Path, values: dict[str, str]) -> None:
    """Atomic; values are plain tokens (image references, digests), never secrets."""
    from lepton_ci.render.files import atomic_write

    for key, value in values.items():
        if re.search(r"[\s'\"\\$`]", value):
            raise ValueError(f"{key} value {value!r} cannot be written to a dotenv file")
    atomic_write(path, "".join(f"{k}={v}\n" for k, v in values.items()))
