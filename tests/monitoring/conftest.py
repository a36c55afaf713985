"""Monitoring tests reuse the deploy tests' inline project."""

from tests.deploy.conftest import make_project  # noqa: F401 - fixture
