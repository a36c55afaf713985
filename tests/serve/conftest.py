from tests.services import tiny_model  # noqa: F401
