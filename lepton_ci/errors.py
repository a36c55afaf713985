"""One error root, a few categories, and one table mapping them to documented exit codes.

Every error a user should read derives from :class:`LeptonError`; the CLI prints its message
(and a traceback only with ``--verbose``) and exits with the category's code. Messages never
carry secrets: adapters redact what the server echoed before raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Exit codes of every ``lepton-ci`` command (documented in docs/exit-codes.md)."""

    OK = 0
    FAILURE = 1  # a step ran and failed: training crashed, a build broke, a deploy rolled back
    USAGE = 2  # wrong command-line usage (click's own code)
    SPEC = 3  # lepton.yaml or another input file is invalid
    GATE = 4  # a quality gate failed
    DRIFT = 5  # `render --check`: generated files differ from what the spec renders
    SERVER = 6  # a server (registry, Jenkins, GitLab, Docker, Kubernetes, MLflow) refused or failed
    MISSING_DEPENDENCY = 7  # an optional extra is not installed
    INTERRUPTED = 130


class LeptonError(Exception):
    """Root of every error lepton-ci raises for a user to read."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class StepError(LeptonError):
    """A pipeline step ran and failed."""


class GateFailed(LeptonError):
    """One or more quality gates failed."""

    exit_code = ExitCode.GATE


class DriftError(LeptonError):
    """Generated files differ from what the spec renders."""

    exit_code = ExitCode.DRIFT


class ServerError(LeptonError):
    """A remote service refused or failed; the message carries its (redacted) last words."""

    exit_code = ExitCode.SERVER


class MissingDependency(LeptonError):
    """An optional extra is needed for this command."""

    exit_code = ExitCode.MISSING_DEPENDENCY

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this command needs the Python package {module!r}, which is not installed",
            hint=f"pip install 'lepton-ci[{extra}]'",
        )


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file, located as precisely as the file allows."""

    message: str
    path: tuple[str | int, ...] = ()
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    hint: str | None = None

    @property
    def field(self) -> str:
        return format_field_path(self.path)

    def render(self, file: str | Path | None) -> str:
        where = str(file) if file else "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.field}: {self.message}" if self.path else f"{where}: {self.message}"
        return text if not self.hint else f"{text}\n    hint: {self.hint}"


@dataclass
class SpecError(LeptonError):
    """An input file (usually lepton.yaml) is invalid. Carries every problem found, not just one."""

    file: str | Path | None
    problems: list[Problem] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.SPEC

    def __post_init__(self) -> None:
        super().__init__(self._text())

    def _text(self) -> str:
        count = len(self.problems)
        head = f"{self.file or '<input>'}: {count} problem{'s' if count != 1 else ''} found"
        return "\n".join([head, *("  " + p.render(self.file) for p in self.problems)])

    def __str__(self) -> str:
        return self.message

    def __hash__(self) -> int:  # dataclass(eq=True) would make exceptions unhashable
        return id(self)


def format_field_path(path: tuple[str | int, ...]) -> str:
    """``('deploy', 'environments', 0, 'name')`` -> ``deploy.environments[0].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"
