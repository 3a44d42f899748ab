"""The long runs use the fuzz fixtures."""

from tests.fuzz.conftest import api_schema, app_requests, seeded

__all__ = ["api_schema", "app_requests", "seeded"]
