"""JSON Schema of lepton.yaml, derived from the pydantic model."""

from __future__ import annotations

from typing import Any

from lepton_ci.spec.model import Spec


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lepton.yaml"
    return schema
