"""Validation of Korean business identifiers: the 사업자등록번호 (business registration number) checksum."""

import re

from django.core.exceptions import ValidationError

_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
_SEPARATORS = re.compile(r"[\s-]")


def business_registration_number_normalize(value: str) -> str:
    """Ten digits without separators ("220-81-62517" -> "2208162517"); raise ValueError when malformed or invalid."""
    digits = _SEPARATORS.sub("", value or "")
    if not re.fullmatch(r"\d{10}", digits):
        raise ValueError("A business registration number has 10 digits (e.g. 123-45-67890).")
    numbers = [int(char) for char in digits]
    # National Tax Service checksum: weighted sum, plus the tens digit of (9th digit x 5).
    total = sum(digit * weight for digit, weight in zip(numbers[:9], _WEIGHTS, strict=True))
    total += (numbers[8] * 5) // 10
    if (10 - total % 10) % 10 != numbers[9]:
        raise ValueError("This business registration number fails its checksum.")
    return digits


def business_registration_number_format(digits: str) -> str:
    """Display form 123-45-67890; empty stays empty."""
    if len(digits) != 10:
        return digits
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def validate_business_registration_number(value: str) -> None:
    """Django field validator (admin forms); services call the normalizer and raise ApplicationError."""
    if not value:
        return
    try:
        business_registration_number_normalize(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid_business_registration_number") from error
