"""Monitoring tests reuse the deploy tests' inline project and the serve tests' tiny model."""

from tests.deploy.conftest import make_project  # noqa: F401 - fixture
from tests.services import tiny_model  # noqa: F401 - fixture
