"""The known-good request a new version must answer before it takes traffic.

Looked up in this order (the first found wins):

1. the JSON file named by ``LEPTON_SMOKE_INPUT`` (a full ``/predict`` request body);
2. ``input_example`` in the version's manifest (as registered);
3. ``input_example.json`` in the model artifact (run dir ``train/`` or the staged release);
4. ``input_example.json`` stored with the version in the registry;
5. (docker) ``input_example.json`` in the artifact inside the new version's image.

With none of them the smoke test is skipped (readiness still gates the switch) and the deploy
says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lepton_ci.errors import LeptonError

EXAMPLE_FILE = "input_example.json"


def as_request(example: Any) -> Any:
    if isinstance(example, dict) and "inputs" in example:
        return example
    return {"inputs": example}


def find_smoke_input(
    manifest: Mapping[str, Any] | None,
    model_dirs: list[Path],
    registry_file: bytes | None,
) -> Any | None:
    env_path = os.environ.get("LEPTON_SMOKE_INPUT")
    try:
        if env_path:
            return as_request(json.loads(Path(env_path).read_text()))
        if manifest and manifest.get("input_example") is not None:
            return as_request(manifest["input_example"])
        for model_dir in model_dirs:
            candidate = model_dir / EXAMPLE_FILE
            if candidate.is_file():
                return as_request(json.loads(candidate.read_text()))
        if registry_file:
            return as_request(json.loads(registry_file))
    except (OSError, json.JSONDecodeError) as exc:
        raise LeptonError(f"cannot read the smoke-test input: {exc}") from None
    return None
