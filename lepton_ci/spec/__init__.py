"""The ``lepton.yaml`` spec: one typed object, loaded with precise, line-numbered errors."""

from lepton_ci.spec.loader import SPEC_FILENAME, load_spec, parse_spec
from lepton_ci.spec.model import Spec

__all__ = ["SPEC_FILENAME", "Spec", "load_spec", "parse_spec"]
