"""Fixtures for the GitLab tests: specs, rendering, and gitlab-ci-local in a throwaway repo."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lepton_ci.pipeline import Pipeline, build_pipeline
from lepton_ci.render.gitlab import render_gitlab_ci
from lepton_ci.render.outputs import RenderOptions
from lepton_ci.resources import data_dir
from lepton_ci.spec.loader import parse_spec
from tests.golden.cases import golden_spec

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".ci" / ".tools" / "node_modules" / ".bin"
VENV_BIN = ROOT / ".venv" / "bin"
HOSTILE = 'it\'s "quoted" $HOME ${CI_JOB_TOKEN} `id` $(id) back\\slash\nnext line'

BASE = """\
version: 1
project: {name: "Digits CNN"}
train: {entrypoint: "digits.train:main"}
evaluate: {entrypoint: "digits.evaluate:main"}
"""

#: the specs these tests use are golden cases (tests/golden/gitlab-*), so each also runs
#: through the golden, parity and Jenkins stub tests
SPECS: dict[str, str] = {
    name: golden_spec(f"gitlab-{name}")
    for name in ("minimal", "full", "agent-image", "release-tags")
}


def hostile_spec() -> str:
    """Every free-text field the GitLab file carries, full of quoting and expansion traps."""
    name = json.dumps(HOSTILE)
    tag = json.dumps("gpu $CI_COMMIT_SHA ${X} 'q' \"d\" `t` \\b")
    return f"""\
version: 1
project: {{name: {name}, model: digits}}
train: {{entrypoint: "digits.train:main"}}
evaluate: {{entrypoint: "digits.evaluate:main"}}
deploy:
  environments:
    - {{name: staging}}
    - {{name: production, approval: true}}
agents:
  default: {{tags: [{tag}, plain]}}
  deploy: {{tags: [{tag}]}}
"""


@dataclass(frozen=True)
class Rendered:
    pipeline: Pipeline
    text: str
    style: str
    include: str


Render = Callable[..., Rendered]


@pytest.fixture
def render() -> Render:
    """render(spec_text, style, include="component", spec_path="lepton.yaml") -> Rendered."""

    def _render(
        spec_text: str, style: str, include: str = "component", spec_path: str = "lepton.yaml"
    ) -> Rendered:
        spec = parse_spec(spec_text, "lepton.yaml")
        pipeline = build_pipeline(spec, spec_path)
        options = RenderOptions.from_spec(spec, style)
        options = RenderOptions(
            options.style,
            options.library_version,
            options.jenkins_library,
            include,
            options.gitlab_project,
        )
        return Rendered(pipeline, render_gitlab_ci(pipeline, options), style, include)

    return _render


VARIANTS = [
    ("standalone", "component"),
    ("library", "component"),
    ("library", "template"),
]


@pytest.fixture(scope="session")
def library_root() -> Path:
    return data_dir("gitlab")


def tool(name: str) -> str:
    for folder in (TOOLS, VENV_BIN):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: run `bash .ci/setup` (the README's test command does)")
    return found


def check_schema(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """GitLab's own CI schema, as shipped by check-jsonschema, over many files at once."""
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


class GitlabCiLocal:
    """gitlab-ci-local 4.60.1 on a fresh git repo whose remote is our fake GitLab.

    Remote includes are served from gitlab-ci-local's include cache, pre-filled with this
    checkout's gitlab/ folder under the refs the generated file pins, so the include line
    the file really carries is the one being resolved (no network, no rewriting).
    """

    HOST = "gitlab.example.com"

    def __init__(self, root: Path, library_root: Path) -> None:
        self.root = root
        self.library_root = library_root
        root.mkdir(parents=True, exist_ok=True)
        git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run(
            [*git, "remote", "add", "origin", f"https://{self.HOST}/acme/digits.git"], check=True
        )
        (root / "README.md").write_text("model repo\n")
        subprocess.run([*git, "add", "README.md"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)

    def write(self, text: str, *, project: str = "lepton-ci/lepton-ci", version: str = "0.1.0"):
        (self.root / ".gitlab-ci.yml").write_text(text, encoding="utf-8")
        cache = self.root / ".gitlab-ci-local" / "includes" / self.HOST / project
        shutil.rmtree(self.root / ".gitlab-ci-local", ignore_errors=True)
        for ref in (version, f"v{version}"):
            shutil.copytree(self.library_root, cache / ref)

    def run(self, *args: str, variables: dict[str, str] | None = None) -> str:
        argv = [tool("gitlab-ci-local"), *args]
        for key, value in (variables or {}).items():
            argv += ["--variable", f"{key}={value}"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.root)
        if proc.returncode != 0:
            raise AssertionError(
                f"gitlab-ci-local {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc.stdout

    def jobs(self, variables: dict[str, str] | None = None) -> dict[str, str]:
        """Jobs the pipeline would contain for these variables: name -> when."""
        out = self.run("--list-json", variables=variables)
        data = json.loads(out[out.index("[\n") :])
        return {job["name"]: job["when"] for job in data if job["when"] != "never"}

    def preview(self, variables: dict[str, str] | None = None) -> str:
        """The merged YAML (warnings before its `---` dropped)."""
        out = self.run("--preview", variables=variables)
        start = out.find("\n---\n")
        return out[start + 5 :] if start >= 0 else out


@pytest.fixture
def gitlab_ci_local(tmp_path: Path, library_root: Path) -> GitlabCiLocal:
    return GitlabCiLocal(tmp_path / "repo", library_root)
