"""JSON Schema of lepton.yaml, derived from the pydantic model."""

from __future__ import annotations

from typing import Any

from lepton_ci.spec.model import Spec

# what GateSpec also accepts as text (see GATE_TEXT): `accuracy >= 0.95`, `loss <= champion + 0.1`
GATE_TEXT_PATTERN = (
    r"^\s*[A-Za-z_][A-Za-z0-9_.]*\s*(>=|<=|>|<|==)\s*"
    r"(champion\s*([+-]\s*[0-9.eE+-]+)?|-?[0-9.eE+-]+)\s*$"
)


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lepton.yaml"
    gates = schema["properties"]["gates"]
    gates["items"] = {
        "anyOf": [
            {
                "type": "string",
                "pattern": GATE_TEXT_PATTERN,
                "description": "METRIC OP NUMBER, or METRIC OP champion [+|- NUMBER]",
            },
            gates["items"],
        ]
    }
    return schema
