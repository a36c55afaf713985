"""The rendered Dockerfile: cache-friendly layer order, safe escaping, and hadolint's approval."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lepton_ci.render.docker import docker_str, render_dockerfile, render_dockerignore
from lepton_ci.render.files import GeneratedFile
from lepton_ci.spec.loader import parse_spec

MINIMAL = """
version: 1
project: {name: Digits}
train: {entrypoint: "digits.train:main"}
evaluate: {entrypoint: "digits.evaluate:main"}
"""

HOSTILE_NAME = 'Evil "$(touch /tmp/pwned)" ${HOME} `id` \\ \' \n LABEL x=y'

HOSTILE = f"""
version: 1
project:
  name: {json.dumps(HOSTILE_NAME)}
  model: evil-model
lepton-ci:
  version: "0.1.0"
  index_url: "https://pypi.example.org/simple"
train: {{entrypoint: "digits.train:main"}}
evaluate: {{entrypoint: "digits.evaluate:main"}}
image:
  base: "lepton-ci/base:bookworm-torch2.13.0"
  system: ["curl=7.88.1-10+deb12u5", "libgomp1=12.2.0-14"]
  pip:
    - "numpy==1.26.4 ; python_version >= '3.9'"
    - "requests[socks]==2.31.0"
  port: 9123
serve:
  entrypoint: "my_pkg.predict:load"
  max_batch: 17
"""


def _spec(text: str):
    return parse_spec(text, "lepton.yaml")


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _hadolint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return subprocess.run([exe, str(path)], capture_output=True, text=True, check=False)


def test_layers_go_from_base_to_model_so_a_new_model_rebuilds_only_the_last_ones() -> None:
    steps = _instructions(render_dockerfile(_spec(MINIMAL)))
    final_stage = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    order = [word for word, _ in final_stage]
    deps = next(i for i, (w, a) in enumerate(final_stage) if w == "RUN" and "pip install" in a)
    code = next(i for i, (w, a) in enumerate(final_stage) if w == "COPY" and "--from=source" in a)
    model = next(
        i for i, (w, a) in enumerate(final_stage) if w == "COPY" and ".lepton/run/train/" in a
    )
    assert deps < code < model
    # nothing after the model copy adds a filesystem layer
    assert not {"RUN", "COPY", "ADD"} & set(order[model + 1 :])


def test_image_installs_the_pinned_lepton_ci_with_the_serve_extra_and_runs_as_non_root() -> None:
    text = render_dockerfile(_spec(MINIMAL))
    assert "'lepton-ci[serve]==0.1.0'" in text
    steps = _instructions(text)
    assert ("USER", "10001:10001") in steps
    assert ("EXPOSE", "8080") in steps
    entry = next(a for w, a in steps if w == "ENTRYPOINT")
    assert json.loads(entry)[:2] == ["lepton-ci", "serve"]
    health = next(a for w, a in steps if w == "HEALTHCHECK")
    assert json.loads(health.split("CMD", 1)[1])[-1] == "lepton_ci.serve.healthcheck"


def test_the_base_image_is_the_specs_and_overridable_by_build_arg() -> None:
    steps = _instructions(render_dockerfile(_spec(MINIMAL)))
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    assert [a for w, a in steps if w == "FROM"] == ["${BASE_IMAGE} AS source", "${BASE_IMAGE}"]


def test_oci_labels_come_from_build_args() -> None:
    text = render_dockerfile(_spec(MINIMAL))
    for label, arg in [
        ("org.opencontainers.image.source", "LEPTON_SOURCE_URL"),
        ("org.opencontainers.image.revision", "LEPTON_GIT_SHA"),
        ("org.opencontainers.image.version", "LEPTON_MODEL_VERSION"),
        ("io.lepton-ci.manifest-digest", "LEPTON_MANIFEST_DIGEST"),
    ]:
        assert f'{label}="${{{arg}}}"' in text
        assert f"ARG {arg}=" in text


def test_minimal_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    spec = _spec(MINIMAL)
    result = _hadolint(GeneratedFile("Dockerfile", render_dockerfile(spec)).content, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hostile_spec_values_are_escaped_and_still_pass_hadolint(tmp_path: Path) -> None:
    spec = _spec(HOSTILE)
    text = render_dockerfile(spec)
    result = _hadolint(GeneratedFile("Dockerfile", text).content, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = _instructions(text)
    # the free-text name stays one quoted LABEL value: no new instruction, no expansion
    assert [w for w, _ in steps if w == "LABEL"] == ["LABEL"]
    assert docker_str(HOSTILE_NAME) in text
    assert "$(touch" not in text.replace("\\$(touch", "")
    assert "${HOME}" not in text.replace("\\${HOME}", "")
    # pip requirements with quotes, spaces and ';' are single shell words
    assert "'numpy==1.26.4 ; python_version >= '\"'\"'3.9'\"'\"''" in text
    assert "curl=7.88.1-10+deb12u5 libgomp1=12.2.0-14" in text
    assert "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists/*" in text
    entry = json.loads(next(a for w, a in steps if w == "ENTRYPOINT"))
    assert entry[-2:] == ["--entrypoint", "my_pkg.predict:load"]
    assert "--max-batch" in entry and "17" in entry
    assert ("EXPOSE", "9123") in steps
    assert text.startswith("# The base image")  # the template's Jinja comment left no trace
    assert "ARG BASE_IMAGE=lepton-ci/base:bookworm-torch2.13.0\n" in text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("$HOME and ${X}", '"\\$HOME and \\${X}"'),
        ("back\\slash", '"back\\\\slash"'),
        ("two\nlines", '"two lines"'),
    ],
)
def test_docker_str_escapes_quotes_variables_backslashes_and_newlines(
    raw: str, escaped: str
) -> None:
    assert docker_str(raw) == escaped


def test_dockerignore_keeps_the_artifact_and_wheels_but_drops_run_outputs() -> None:
    lines = render_dockerignore(_spec(MINIMAL)).splitlines()
    assert ".lepton" in lines and ".git" in lines
    assert lines.index("!.lepton/run/train") > lines.index(".lepton")
    assert "!.lepton/wheels" in lines


def test_a_name_ending_in_a_backslash_still_passes_hadolint(tmp_path: Path) -> None:
    """Docker reads "x\\\\" as x\\, but hadolint rejects any quoting of a value ending in one:
    the (metadata-only) label drops the trailing backslash."""
    spec = _spec(MINIMAL.replace("name: Digits", 'name: "Digits \\\\"'))
    assert spec.project.name == "Digits \\"
    text = render_dockerfile(spec)
    result = _hadolint(GeneratedFile("Dockerfile", text).content, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'org.opencontainers.image.title="Digits "' in text


def test_unpinned_packages_are_named_and_hadolint_still_passes(tmp_path: Path) -> None:
    spec = _spec(
        MINIMAL + 'image: {pip: ["requests", "numpy>=1.26"], system: [libgomp1, "curl=7.88"]}\n'
    )
    text = render_dockerfile(spec)
    result = _hadolint(GeneratedFile("Dockerfile", text).content, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = text.splitlines()
    apt = next(i for i, line in enumerate(lines) if line.startswith("RUN apt-get"))
    assert lines[apt - 1] == "# hadolint ignore=DL3008" and lines[apt - 2] == "# libgomp1"
    pip = next(i for i, line in enumerate(lines) if line.startswith("RUN python3 -m venv"))
    assert lines[pip - 1] == "# hadolint ignore=DL3013" and lines[pip - 2] == "# requests"


def test_pinned_packages_need_no_hadolint_exception() -> None:
    text = render_dockerfile(_spec(HOSTILE))
    assert "hadolint ignore" not in text
