"""What every selector answers for a missing object: 404 `not_found`, the same for "not yours" and "no such id"."""

from billing_site.errors import ApplicationError


def not_found() -> ApplicationError:
    """The error to raise when a read finds nothing the caller may see (never 403: ids are not probed)."""
    return ApplicationError("not_found", "Not found.", status_code=404)
