"""Query-string filters shared by list endpoints: a present but empty or unknown value is a 400."""

from collections.abc import Iterable

from rest_framework.request import Request

from billing_site.errors import ApplicationError


def choice_param(request: Request, name: str, choices: Iterable[str]) -> str | None:
    """The value of `?name=` if given, None if absent; refuses an empty or unknown value with `invalid_filter`."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    allowed = list(choices)
    if raw not in allowed:
        raise ApplicationError(
            "invalid_filter",
            f"{name} must be one of: {', '.join(allowed)}.",
            fields={name: [f"Must be one of: {', '.join(allowed)}."]},
        )
    return raw
