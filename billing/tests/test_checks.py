"""System checks: no Hangul font is an error (never a silent fallback to boxes), VAT must be integer basis points."""

import pytest

from billing.checks import check_billing_settings, check_pdf_fonts


def _ids(messages):
    return [message.id for message in messages]


def test_the_installed_nanum_font_passes():
    assert check_pdf_fonts() == []


def test_a_missing_font_is_an_error(settings, tmp_path):
    settings.BILLING_PDF_FONT_PATH = str(tmp_path / "nowhere.ttf")
    messages = check_pdf_fonts()
    assert _ids(messages) == ["billing.E001"]
    assert "fonts-nanum" in messages[0].hint


def test_a_file_that_is_not_a_font_is_an_error(settings, tmp_path):
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font at all")
    settings.BILLING_PDF_FONT_BOLD_PATH = str(fake)
    assert _ids(check_pdf_fonts()) == ["billing.E002"]


def test_a_font_without_hangul_is_an_error(settings):
    from pathlib import Path

    from reportlab import rl_config  # a Latin-only TrueType font ships with reportlab

    vera = next(
        (Path(folder) / "Vera.ttf" for folder in rl_config.TTFSearchPath if (Path(folder) / "Vera.ttf").is_file()),
        None,
    )
    if vera is None:
        import reportlab

        vera = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
    assert vera.is_file()
    settings.BILLING_PDF_FONT_PATH = str(vera)
    messages = check_pdf_fonts()
    assert _ids(messages) == ["billing.E002"]
    assert "no glyph" in messages[0].msg


@pytest.mark.parametrize("rate", [0.1, "1000", -1, 10_001, True])
def test_vat_rate_must_be_integer_basis_points(settings, rate):
    settings.BILLING_VAT_RATE_BASIS_POINTS = rate
    assert "billing.E003" in _ids(check_billing_settings())


def test_default_settings_pass():
    assert check_billing_settings() == []


def test_invalid_seller_number_is_a_warning(settings):
    settings.BILLING_SELLER = {**settings.BILLING_SELLER, "business_registration_number": "123-45-67890"}
    assert _ids(check_billing_settings()) == ["billing.W001"]


@pytest.mark.parametrize(
    ("schedule", "final_days", "action", "error"),
    [
        ([1, 3, 7], 14, "suspend", "billing.E005"),
        ([3, 1, 7], 14, "cancel", "billing.E006"),
        ([0, 3], 14, "cancel", "billing.E006"),
        ([1, 1, 7], 14, "cancel", "billing.E006"),
        ([1, 3, 7], 7, "cancel", "billing.E007"),
    ],
)
def test_the_dunning_schedule_must_be_runnable(settings, schedule, final_days, action, error):
    settings.BILLING_DUNNING_SCHEDULE = schedule
    settings.BILLING_DUNNING_FINAL_DAYS = final_days
    settings.BILLING_DUNNING_FINAL_ACTION = action

    assert _ids(check_billing_settings()) == [error]


def test_a_dunning_schedule_of_only_the_final_action_passes(settings):
    settings.BILLING_DUNNING_SCHEDULE = []
    settings.BILLING_DUNNING_FINAL_ACTION = "uncollectible"

    assert check_billing_settings() == []
