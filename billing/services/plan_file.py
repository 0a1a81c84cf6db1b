"""The plan file's error and the field checks shared by its plans (billing.services.plans) and its usage part
(billing.services.usage_plans), which cannot import each other both ways."""

from typing import Any


class PlanFileError(ValueError):
    """The plan file is not valid; the message names the plan, metric and field."""


def file_whole(value: Any, where: str, *, minimum: int, maximum: int, unit: str = "") -> int:
    """A whole number from `minimum` to `maximum`; `unit` (e.g. "minor units") is named in the refusal."""
    # bool is an int in Python and a float is not a quantity or money: both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        named = f" ({unit})" if unit else ""
        raise PlanFileError(f"{where} must be a whole number{named}, not {value!r}.")
    if not minimum <= value <= maximum:
        raise PlanFileError(f"{where} must be from {minimum} to {maximum}, not {value}.")
    return value


def file_text(value: Any, where: str, *, max_length: int, required: bool = True) -> str:
    """A string without its surrounding blanks, at most `max_length` long; an optional one may be absent ("")."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise PlanFileError(f"{where} must be a non-empty string.")
    if len(value.strip()) > max_length:
        raise PlanFileError(f"{where} is longer than {max_length} characters.")
    return value.strip()
