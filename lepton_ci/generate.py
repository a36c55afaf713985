"""`init` and `render`: the generator's public functions (the CLI only calls these)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from lepton_ci import __version__
from lepton_ci.errors import DriftError, LeptonError
from lepton_ci.gitinfo import git
from lepton_ci.render.escape import render_template
from lepton_ci.render.files import GeneratedFile, Outcome, drift, write_files
from lepton_ci.render.outputs import generated_files
from lepton_ci.spec import SPEC_FILENAME, load_spec, parse_spec


@dataclass
class InitOptions:
    """Answers for the starter spec; ``None`` means "detect from the repository"."""

    name: str | None = None
    train_entrypoint: str | None = None
    train_command: str | None = None
    evaluate_entrypoint: str | None = None
    evaluate_command: str | None = None
    registry: str = "127.0.0.1:5000"
    base_image: str = "python:3.11-slim"
    style: str = "standalone"
    cron: str = "0 3 * * 1"
    gates: list[str] = field(default_factory=lambda: ["accuracy >= 0.9"])
    data: list[str] | None = None
    default_branch: str | None = None
    requirements: list[str] | None = None
    install_project: bool | None = None


REQUIREMENTS_FILE = "requirements.txt"


def _has_project_table(root: Path) -> bool:
    """Whether the repository's pyproject.toml declares an installable project."""
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return any(line.strip() == "[project]" for line in text.splitlines())


@dataclass
class InitResult:
    spec_written: bool
    outcomes: dict[str, Outcome]


def detect_defaults(root: Path, options: InitOptions) -> InitOptions:
    """Fill what the user did not give from what the repository shows."""
    name = options.name or root.resolve().name
    train_ep, train_cmd = options.train_entrypoint, options.train_command
    if not train_ep and not train_cmd:
        train_ep = _find_function(root, "train") or None
        train_cmd = None if train_ep else "python train.py"
    eval_ep, eval_cmd = options.evaluate_entrypoint, options.evaluate_command
    if not eval_ep and not eval_cmd:
        eval_ep = _find_function(root, "evaluate") or None
        eval_cmd = None if eval_ep else "python evaluate.py"
    data = (
        options.data if options.data is not None else [d for d in ("data",) if (root / d).is_dir()]
    )
    branch = options.default_branch or _git_default_branch(root) or "main"
    requirements = options.requirements
    if requirements is None:
        requirements = [REQUIREMENTS_FILE] if (root / REQUIREMENTS_FILE).is_file() else []
    install_project = options.install_project
    if install_project is None:
        install_project = not requirements and _has_project_table(root)
    return InitOptions(
        requirements=requirements,
        install_project=install_project,
        name=name,
        train_entrypoint=train_ep,
        train_command=train_cmd,
        evaluate_entrypoint=eval_ep,
        evaluate_command=eval_cmd,
        registry=options.registry,
        base_image=options.base_image,
        style=options.style,
        cron=options.cron,
        gates=options.gates,
        data=data,
        default_branch=branch,
    )


def starter_spec(options: InitOptions) -> str:
    text = render_template(
        "spec/lepton.yaml.j2",
        name=options.name,
        default_branch=options.default_branch,
        version=__version__,
        train_entrypoint=options.train_entrypoint,
        train_command=options.train_command,
        evaluate_entrypoint=options.evaluate_entrypoint,
        evaluate_command=options.evaluate_command,
        data=options.data or [],
        gates=options.gates,
        registry=options.registry,
        base_image=options.base_image,
        cron=options.cron,
        style=options.style,
        requirements=options.requirements or [],
        install_project=bool(options.install_project),
    )
    parse_spec(text, SPEC_FILENAME)  # what we write must itself be valid
    return text


def init_repo(root: Path, options: InitOptions, *, force: bool = False) -> InitResult:
    """Write lepton.yaml when absent, then render every generated file."""
    spec_file = root / SPEC_FILENAME
    if spec_file.exists():
        files = generated_files(load_spec(spec_file), SPEC_FILENAME)
        return InitResult(False, write_files(root, files, force=force))
    text = starter_spec(detect_defaults(root, options))
    files = generated_files(parse_spec(text, spec_file), SPEC_FILENAME)
    return InitResult(True, write_files(root, files, force=force, also={spec_file: text}))


def render_repo(
    root: Path, spec_path: str = SPEC_FILENAME, *, force: bool = False, style: str | None = None
) -> dict[str, Outcome]:
    spec = load_spec(root / spec_path)
    files = generated_files(spec, spec_path, style=style)
    return write_files(root, files, force=force)


def check_repo(
    root: Path, spec_path: str = SPEC_FILENAME, *, style: str | None = None
) -> list[str]:
    """Raise :class:`DriftError` carrying the diff when generated files are stale."""
    spec = load_spec(root / spec_path)
    flag = "" if spec_path == SPEC_FILENAME else f" --spec {spec_path}"
    diffs = drift(root, generated_files(spec, spec_path, style=style))
    if diffs:
        raise DriftError(
            "generated files differ from what the spec renders:\n" + "".join(diffs),
            hint=f"run `lepton-ci render{flag}` and commit the result",
        )
    return diffs


def rendered(root: Path, spec_path: str = SPEC_FILENAME) -> list[GeneratedFile]:
    return generated_files(load_spec(root / spec_path), spec_path)


def _find_function(root: Path, name: str) -> str | None:
    """`module:name` for a top-level ``def name`` in a likely module of the repo."""
    candidates = sorted(root.glob(f"{name}.py")) + sorted(root.glob(f"*/{name}.py"))
    candidates += sorted(root.glob("src/*/" + f"{name}.py"))
    for path in candidates:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        if any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
            rel = path.relative_to(root).with_suffix("")
            parts = rel.parts[1:] if rel.parts[0] == "src" else rel.parts
            if all(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", p) for p in parts):
                return ".".join(parts) + ":" + name
    return None


def _git_default_branch(root: Path) -> str | None:
    branch = git(root, "symbolic-ref", "--short", "HEAD")
    return branch if branch in {"main", "master", "trunk"} else None


__all__ = ["InitOptions", "LeptonError", "check_repo", "init_repo", "render_repo"]
