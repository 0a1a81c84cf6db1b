"""사업자등록번호 (business registration number) normalisation and checksum."""

import pytest

from billing.validators import business_registration_number_format, business_registration_number_normalize


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("220-81-62517", "2208162517"),
        ("2208162517", "2208162517"),
        ("120-81-47521", "1208147521"),
        (" 104 81 37225 ", "1048137225"),
        ("123-45-67891", "1234567891"),
    ],
)
def test_valid_numbers_are_normalised_to_ten_digits(raw, digits):
    assert business_registration_number_normalize(raw) == digits


@pytest.mark.parametrize(
    "raw",
    ["220-81-62518", "1234567890", "214-88-24452", "12345", "22081625170", "abc-de-fghij", ""],
    ids=["last-digit-off", "sequence", "checksum", "short", "long", "letters", "empty"],
)
def test_malformed_or_checksum_failing_numbers_are_refused(raw):
    with pytest.raises(ValueError):
        business_registration_number_normalize(raw)


def test_display_form():
    assert business_registration_number_format("2208162517") == "220-81-62517"
    assert business_registration_number_format("") == ""
