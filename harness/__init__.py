"""Real local servers for the test suite (PostgreSQL, LocalStack S3, localstripe) and the API tests reach them by."""

from harness.session import Services, services

__all__ = ["Services", "services"]
