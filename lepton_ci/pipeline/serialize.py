"""The pipeline model as plain data (``lepton-ci pipeline --format json``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from lepton_ci.pipeline.model import Pipeline


def pipeline_to_dict(pipeline: Pipeline) -> dict[str, Any]:
    data = dataclasses.asdict(pipeline)
    data["stages"] = list(pipeline.stages)
    data["setup"] = {job.name: [list(c) for c in pipeline.setup(job)] for job in pipeline.jobs}
    return data
