"""Runtime steps the generated pipelines call: train and evaluate.

Torch is imported inside functions only, so importing this package stays cheap.
"""

from lepton_ci.runtime.context import EvalContext, TrainContext
from lepton_ci.runtime.results import EvalResult

__all__ = ["EvalContext", "EvalResult", "TrainContext"]
