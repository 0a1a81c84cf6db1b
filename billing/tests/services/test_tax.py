"""The VAT rate schedule (billing.tax), the legal basis of a 0 % VAT, and what staff set about a customer's tax: the
basis, the foreign customer's zero-rated default and the 사업자등록번호 a Korean business needs for a tax invoice."""

from datetime import date
from typing import Any

import pytest

from billing.checks import check_billing_settings
from billing.enums import TaxTreatment
from billing.models import Customer
from billing.services.customers import (
    customer_tax_basis_set,
    customer_tax_default_apply,
    customer_tax_invoice_problem,
    customer_tax_invoice_require,
)
from billing.tax import (
    DEFAULT_TAX_BASIS,
    tax_basis_text,
    vat_on,
    vat_rate_changes_parse,
    vat_rate_for,
    vat_rate_on,
    vat_rate_percent,
)
from billing.tests.factories import CustomerFactory
from billing_site.errors import ApplicationError

ZERO_RATED_KO = "부가가치세법 제24조 제1항 제3호, 같은 법 시행령 제33조 제2항"
EXEMPT_KO = "부가가치세법 제26조"


# --- the schedule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        (date(2020, 1, 1), 1000),
        (date(2027, 6, 30), 1000),
        (date(2027, 7, 1), 1200),
        (date(2027, 12, 31), 1200),
        (date(2028, 1, 1), 1100),
        (date(2099, 1, 1), 1100),
    ],
)
def test_the_rate_of_a_day_is_the_last_change_on_or_before_it(settings: Any, day: date, rate: int) -> None:
    settings.BILLING_VAT_RATE_BASIS_POINTS = 1000
    settings.BILLING_VAT_RATE_CHANGES = "2028-01-01=1100, 2027-07-01=1200"  # any order
    assert vat_rate_on(day=day) == rate


def test_without_changes_the_rate_is_the_configured_one(settings: Any) -> None:
    settings.BILLING_VAT_RATE_BASIS_POINTS = 1000
    settings.BILLING_VAT_RATE_CHANGES = ""
    assert vat_rate_on(day=date(2099, 12, 31)) == 1000


def test_a_mapping_schedule_is_read_like_the_environments_text(settings: Any) -> None:
    settings.BILLING_VAT_RATE_CHANGES = {date(2027, 7, 1): 1200, "2028-01-01": "1100"}
    assert [vat_rate_on(day=date(2027, 7, 1)), vat_rate_on(day=date(2028, 1, 2))] == [1200, 1100]


@pytest.mark.parametrize(
    ("treatment", "rate"), [(TaxTreatment.TAXABLE, 1200), (TaxTreatment.ZERO_RATED, 0), (TaxTreatment.EXEMPT, 0)]
)
def test_only_a_taxable_supply_takes_the_scheduled_rate(settings: Any, treatment: str, rate: int) -> None:
    settings.BILLING_VAT_RATE_CHANGES = "2027-07-01=1200"
    assert vat_rate_for(tax_treatment=treatment, day=date(2027, 7, 1)) == rate
    assert vat_on(supply_amount=99_000, tax_treatment=treatment, day=date(2027, 7, 1)) == 99_000 * rate // 10_000


@pytest.mark.parametrize(
    "value",
    [
        "2027-07-01",  # no rate
        "2027-13-01=1200",  # no such day
        "2027-07-01=12.5",  # basis points are whole
        "2027-07-01=10001",  # above 100 %
        "2027-07-01=-1",
        "2027-07-01=1200,2027-07-01=1100",  # one day twice
        "2027-07-01=1200,",  # an empty item
        ["2027-07-01=1200"],
    ],
)
def test_a_malformed_schedule_is_refused_by_the_check(settings: Any, value: Any) -> None:
    with pytest.raises(ValueError, match="BILLING_VAT_RATE_CHANGES"):
        vat_rate_changes_parse(value)
    settings.BILLING_VAT_RATE_CHANGES = value
    assert "billing.E008" in [message.id for message in check_billing_settings()]


def test_a_good_schedule_passes_the_check(settings: Any) -> None:
    settings.BILLING_VAT_RATE_CHANGES = "2027-07-01=1200,2028-01-01=1000"
    assert "billing.E008" not in [message.id for message in check_billing_settings()]


@pytest.mark.parametrize(
    ("basis_points", "printed"), [(1000, "10"), (1050, "10.5"), (1200, "12"), (0, "0"), (5, "0.05")]
)
def test_a_rate_is_printed_as_a_percent_without_float(basis_points: int, printed: str) -> None:
    assert vat_rate_percent(basis_points) == printed


# --- the legal basis -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("treatment", "language", "expected"),
    [
        (TaxTreatment.TAXABLE, "ko", ""),
        (TaxTreatment.ZERO_RATED, "ko", ZERO_RATED_KO),
        (TaxTreatment.ZERO_RATED, "en", DEFAULT_TAX_BASIS[TaxTreatment.ZERO_RATED]["en"]),
        (TaxTreatment.EXEMPT, "ko", EXEMPT_KO),
        (TaxTreatment.EXEMPT, "en", "Value-Added Tax Act, Article 26"),
        (TaxTreatment.EXEMPT, "ja", EXEMPT_KO),  # an unknown language prints the Korean text
    ],
)
def test_the_default_basis_of_each_treatment(treatment: str, language: str, expected: str) -> None:
    assert tax_basis_text(treatment=treatment, basis="", language=language) == expected


def test_the_customers_own_basis_wins_but_a_taxable_supply_prints_none() -> None:
    own = "부가가치세법 제21조 (재화의 수출)"
    assert tax_basis_text(treatment=TaxTreatment.ZERO_RATED, basis=f"  {own} ", language="en") == own
    assert tax_basis_text(treatment=TaxTreatment.TAXABLE, basis=own, language="ko") == ""
    with pytest.raises(ValueError):
        tax_basis_text(treatment="reduced", basis="", language="ko")


# --- the customer's tax, set by staff ----------------------------------------------------------------------


@pytest.mark.django_db
def test_billing_staff_set_the_basis_support_and_the_customer_cannot(
    customer: Customer, billing_staff_user: Any, support_user: Any, customer_user: Any
) -> None:
    updated = customer_tax_basis_set(customer=customer, tax_basis="  부가가치세법 제21조  ", actor=billing_staff_user)
    assert updated.tax_basis == "부가가치세법 제21조"
    for actor in (support_user, customer_user):
        with pytest.raises(ApplicationError) as refused:
            customer_tax_basis_set(customer=customer, tax_basis="", actor=actor)
        assert refused.value.code == "permission_denied"
    customer.refresh_from_db()
    assert customer.tax_basis == "부가가치세법 제21조"


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["제24조\n제1항", "x" * 201, None])
def test_a_basis_is_one_line_of_at_most_200_characters(customer: Customer, value: Any) -> None:
    with pytest.raises(ApplicationError) as refused:
        customer_tax_basis_set(customer=customer, tax_basis=value, actor=None)
    assert refused.value.code == "validation_error" and "tax_basis" in refused.value.fields


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("currency", "business_number", "treatment", "expected"),
    [
        ("USD", "", TaxTreatment.TAXABLE, TaxTreatment.ZERO_RATED),  # foreign: exported services
        ("EUR", "", TaxTreatment.TAXABLE, TaxTreatment.ZERO_RATED),
        ("USD", "2208162517", TaxTreatment.TAXABLE, TaxTreatment.TAXABLE),  # a Korean business paying in dollars
        ("KRW", "", TaxTreatment.TAXABLE, TaxTreatment.TAXABLE),  # a Korean individual
        ("USD", "", TaxTreatment.EXEMPT, TaxTreatment.EXEMPT),  # staff chose already
    ],
)
def test_the_foreign_default_is_zero_rated(currency: str, business_number: str, treatment: str, expected: str) -> None:
    customer = CustomerFactory.create(
        currency=currency, business_registration_number=business_number, tax_treatment=treatment
    )
    applied = customer_tax_default_apply(customer=customer)
    assert applied.tax_treatment == expected
    customer.refresh_from_db()
    assert customer.tax_treatment == expected


@pytest.mark.django_db
def test_the_foreign_default_never_overwrites_a_treatment_staff_stored_meanwhile() -> None:
    customer = CustomerFactory.create(currency="USD", business_registration_number="")
    Customer.objects.filter(pk=customer.pk).update(tax_treatment=TaxTreatment.EXEMPT)  # a concurrent staff choice
    assert customer_tax_default_apply(customer=customer).tax_treatment == TaxTreatment.EXEMPT
    customer.refresh_from_db()
    assert customer.tax_treatment == TaxTreatment.EXEMPT


@pytest.mark.django_db
def test_a_taxable_korean_business_needs_a_valid_business_number_for_a_tax_invoice(customer: Customer) -> None:
    assert customer_tax_invoice_problem(customer=customer) is None  # the fixture: a business with a valid number
    customer_tax_invoice_require(customer=customer)

    Customer.objects.filter(pk=customer.pk).update(business_registration_number="")
    customer.refresh_from_db()
    customer.representative_name = "홍길동"
    assert "사업자등록번호" in (customer_tax_invoice_problem(customer=customer) or "")
    with pytest.raises(ApplicationError) as refused:
        customer_tax_invoice_require(customer=customer)
    assert (refused.value.code, refused.value.status_code) == ("business_registration_number_required", 409)

    # A number stored before the checksum was checked (ten digits pass the database) is still caught.
    Customer.objects.filter(pk=customer.pk).update(business_registration_number="2208162518")
    customer.refresh_from_db()
    assert "checksum" in (customer_tax_invoice_problem(customer=customer) or "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "needs_number"),
    [
        ({}, False),  # an individual: no business details
        ({"business_type": "서비스"}, True),
        ({"business_type": "서비스", "currency": "USD"}, False),  # foreign
        ({"business_type": "서비스", "tax_treatment": TaxTreatment.EXEMPT}, False),  # no VAT, no tax invoice
    ],
)
def test_who_needs_a_business_number(changes: dict[str, Any], needs_number: bool) -> None:
    customer = CustomerFactory.create(**changes)
    assert (customer_tax_invoice_problem(customer=customer) is not None) is needs_number
