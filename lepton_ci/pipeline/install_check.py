"""What ``lepton-ci validate`` warns about the install every pipeline job runs (docs/install.md).

The pipeline model stays pure; this reads the repository's requirement files at the edge.
"""

from __future__ import annotations

import re
from pathlib import Path

from lepton_ci.spec.model import Spec

TORCH_PIN = re.compile(r"^\s*torch\s*===?\s*[0-9]", re.IGNORECASE)
NOT_A_CONSTRAINT = re.compile(r"^\s*(-e\b|--editable\b|[A-Za-z0-9._-]+\[|\S+\s+@\s|\S*://|\.)")
"""Lines pip refuses in a constraints file: editables, extras, direct URLs, local paths
(pip/_internal/req/constructors.py, ``install_req_from_parsed_requirement`` with constraint)."""


def _lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, line.split(" #", 1)[0]) for n, line in enumerate(text.splitlines(), 1)]


def install_warnings(spec: Spec, root: Path) -> list[str]:
    """Problems a job's ``pip install`` would hit, or a torch that pip would pick itself."""
    lepton = spec.lepton_ci
    if not lepton.install or lepton.agent_image:
        return []
    out: list[str] = []
    pinned = False
    for name in dict.fromkeys([*lepton.requirements, *lepton.constraint_files]):
        path = root / name
        if not path.is_file():
            out.append(f"lepton-ci: {name} does not exist; every job's pip install would fail")
            continue
        lines = _lines(path)
        pinned = pinned or any(TORCH_PIN.match(line) for _, line in lines)
        if name in lepton.constraint_files:
            out += [
                f"{name}:{n}: pip refuses {line.strip()!r} in a constraints file (`-c`); "
                "set lepton-ci.constraints to a file of `name==version` pins"
                for n, line in lines
                if NOT_A_CONSTRAINT.match(line)
            ]
    if not pinned:
        out.append(
            "lepton-ci: no `torch==` pin in lepton-ci.requirements/constraints: the train and "
            "evaluate jobs' pip picks a torch itself (the default build pulls gigabytes of CUDA "
            "wheels); pin yours, e.g. torch==2.3.1+cpu (docs/install.md)"
        )
    return out
