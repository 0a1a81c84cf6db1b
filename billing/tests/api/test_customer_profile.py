"""GET and PATCH /api/payment/customer: the caller's own billing contacts, validated, never another customer's,
and never rewriting an issued invoice (its buyer snapshot, frozen by the database too)."""

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from billing.models import Customer, Invoice
from billing.tests.factories import InvoiceFactory
from billing.tests.helpers import balance_give
from billing_site.tests.helpers import jwt_client

pytestmark = pytest.mark.django_db
PROFILE = "/api/payment/customer"

CONTACTS = {
    "billing_email": "billing@buyer.co.kr",
    "cc_emails": ["cfo@buyer.co.kr", "ap@buyer.co.kr"],
    "company_name": "주식회사 바이어",
    "business_registration_number": "120-81-47521",
    "representative_name": "김대표",
    "address": "서울특별시 강남구 테헤란로 1",
    "business_type": "서비스",
    "business_item": "소프트웨어 개발",
    "preferred_language": "en",
}


def _row(customer: Customer) -> dict[str, Any]:
    return dict(Customer.objects.filter(pk=customer.pk).values().get())


def test_get_creates_the_callers_profile_on_first_call_and_returns_it_after(customer_client, customer_user):
    assert not Customer.objects.filter(user=customer_user).exists()
    first = customer_client.get(PROFILE)
    assert first.status_code == 200, first.content
    assert Customer.objects.filter(user=customer_user).count() == 1
    assert first.json() == {
        "billing_email": "buyer@example.com",
        "cc_emails": [],
        "company_name": "buyer",
        "business_registration_number": "",
        "business_registration_number_display": "",
        "representative_name": "",
        "address": "",
        "business_type": "",
        "business_item": "",
        "preferred_language": "ko",
        "currency": "KRW",
        "tax_treatment": "taxable",
        "credit_balance": 0,
    }
    assert customer_client.get(f"{PROFILE}/").json() == first.json()
    assert Customer.objects.filter(user=customer_user).count() == 1


def test_get_returns_the_stored_profile(customer_client, customer):
    Customer.objects.filter(pk=customer.pk).update(
        cc_emails=["cfo@buyer.co.kr"], representative_name="김대표", tax_treatment="exempt"
    )
    balance_give(customer, 5_000)
    body = customer_client.get(PROFILE).json()
    assert body["company_name"] == "주식회사 테스트상사"
    assert body["business_registration_number"] == "2208162517"
    assert body["business_registration_number_display"] == "220-81-62517"
    assert (body["cc_emails"], body["representative_name"]) == (["cfo@buyer.co.kr"], "김대표")
    assert (body["credit_balance"], body["tax_treatment"], body["currency"]) == (5_000, "exempt", "KRW")


def test_anonymous_callers_get_401(api_client):
    assert api_client.get(PROFILE).status_code == 401
    assert api_client.patch(PROFILE, {"company_name": "x"}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("field", "value", "shown", "stored"),
    [
        ("billing_email", "New@Buyer.CO.KR", "New@buyer.co.kr", ("email", "New@buyer.co.kr")),
        ("billing_email", "", "", ("email", "")),
        ("cc_emails", ["a@buyer.co.kr", "b@buyer.co.kr", "c@buyer.co.kr"], None, None),
        ("cc_emails", [], [], ("cc_emails", [])),
        ("company_name", "  주식회사 새이름 ", "주식회사 새이름", ("display_name", "주식회사 새이름")),
        ("business_registration_number", "120-81-47521", "1208147521", ("business_registration_number", "1208147521")),
        ("business_registration_number", "", "", ("business_registration_number", "")),
        ("representative_name", "홍길동", "홍길동", None),
        ("address", "부산광역시 해운대구", "부산광역시 해운대구", None),
        ("business_type", "도소매", "도소매", None),
        ("business_item", "전자상거래", "전자상거래", None),
        ("preferred_language", "en", "en", None),
    ],
)
def test_patch_changes_one_field(customer_client, customer, field, value, shown, stored):
    before = _row(customer)
    response = customer_client.patch(PROFILE, {field: value}, format="json")
    assert response.status_code == 200, response.content
    expected = value if shown is None else shown
    assert response.json()[field] == expected
    column, stored_value = stored or (field, expected)
    after = _row(customer)
    assert after[column] == stored_value
    changed = {name for name in after if after[name] != before[name]} - {"updated_at"}
    assert changed <= {column}
    assert customer_client.get(PROFILE).json()[field] == expected


def test_patch_sets_every_contact_at_once_and_is_idempotent(customer_client, customer):
    first = customer_client.patch(PROFILE, CONTACTS, format="json")
    assert first.status_code == 200, first.content
    again = customer_client.patch(PROFILE, CONTACTS, format="json")
    assert again.json() == first.json()
    customer.refresh_from_db()
    assert (customer.email, customer.cc_emails) == ("billing@buyer.co.kr", ["cfo@buyer.co.kr", "ap@buyer.co.kr"])
    assert (customer.representative_name, customer.business_type, customer.business_item) == (
        "김대표",
        "서비스",
        "소프트웨어 개발",
    )
    assert first.json()["business_registration_number_display"] == "120-81-47521"


def _refused(client, customer, body, *, code, field):
    before = _row(customer)
    response = client.patch(PROFILE, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert field in error["fields"], error
    assert _row(customer) == before  # nothing saved, not even the valid fields of the same body
    return error


def test_a_business_number_with_a_wrong_check_digit_is_400(customer_client, customer):
    _refused(
        customer_client,
        customer,
        {"business_registration_number": "120-81-47522", "company_name": "바뀌면 안 됨"},
        code="invalid_business_registration_number",
        field="business_registration_number",
    )


@pytest.mark.parametrize(
    ("cc_emails", "billing_email"),
    [
        (["a@buyer.co.kr", "b@buyer.co.kr", "c@buyer.co.kr", "d@buyer.co.kr"], None),  # more than three
        (["a@buyer.co.kr", "A@Buyer.co.kr"], None),  # the same address twice
        (["not-an-address"], None),
        ([""], None),
        ("a@buyer.co.kr", None),  # not a list
        (["Buyer@Example.com"], None),  # the billing email itself (buyer@example.com)
        (["a@buyer.co.kr"], "a@buyer.co.kr"),  # a billing email that is already a CC
    ],
)
def test_invalid_cc_addresses_are_400(customer_client, customer, cc_emails, billing_email):
    body: dict[str, Any] = {"cc_emails": cc_emails, "representative_name": "바뀌면 안 됨"}
    if billing_email is not None:
        body["billing_email"] = billing_email
    _refused(customer_client, customer, body, code="validation_error", field="cc_emails")


def test_a_billing_email_equal_to_a_stored_cc_is_400(customer_client, customer):
    Customer.objects.filter(pk=customer.pk).update(cc_emails=["ap@buyer.co.kr"])
    _refused(
        customer_client, customer, {"billing_email": "AP@buyer.co.kr"}, code="validation_error", field="billing_email"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_name", "주식회사 바이어\r\nBcc: victim@example.com"),
        ("company_name", "주식회사 바이어\n"),
        ("representative_name", "김대표\r"),
        ("representative_name", "김\u2028대표"),
        ("cc_emails", ["ap@buyer.co.kr\r\nBcc: victim@example.com"]),
        ("cc_emails", ["ap@buyer.co.kr\n"]),
        ("billing_email", "billing@buyer.co.kr\r\nBcc: victim@example.com"),
        ("address", "서울\x00특별시"),
        ("business_type", "서비스\t"),
        ("business_item", "소프트웨어\x1b[31m"),
        ("business_registration_number", "120-81-\n47521"),
    ],
)
def test_line_breaks_and_control_characters_are_400_and_nothing_is_saved(customer_client, customer, field, value):
    body = {"business_item": "바뀌면 안 됨", field: value}  # a valid field alongside is not saved either
    _refused(customer_client, customer, body, code="validation_error", field=field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_name", "가" * 201),
        ("representative_name", "가" * 101),
        ("business_type", "가" * 101),
        ("business_item", "가" * 101),
        ("address", "가" * 501),
        ("billing_email", "a" * 250 + "@example.com"),
        ("preferred_language", "jp"),
        ("company_name", ["주식회사"]),
        ("cc_emails", [None]),
    ],
)
def test_too_long_or_mistyped_values_are_400(customer_client, customer, field, value):
    _refused(customer_client, customer, {field: value}, code="validation_error", field=field)


def test_an_empty_company_name_is_400(customer_client, customer):
    _refused(customer_client, customer, {"company_name": "   "}, code="invalid_display_name", field="company_name")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("credit_balance", 1_000_000, "Read-only."),
        ("tax_treatment", "exempt", "Read-only."),
        ("currency", "USD", "Read-only."),
        ("business_registration_number_display", "120-81-47521", "Read-only."),
        ("user", 1, "Unknown field."),
        ("id", 1, "Unknown field."),
        ("email", "x@example.com", "Unknown field."),
        ("display_name", "x", "Unknown field."),
    ],
)
def test_read_only_and_unknown_fields_are_400_and_nothing_is_saved(customer_client, customer, field, value, message):
    error = _refused(
        customer_client, customer, {field: value, "company_name": "바뀌면 안 됨"}, code="unknown_field", field=field
    )
    assert error["fields"] == {field: [message]}


def test_a_body_that_is_not_an_object_is_400(customer_client, customer):
    before = _row(customer)
    response = customer_client.patch(PROFILE, ["company_name"], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert _row(customer) == before


def test_callers_only_ever_see_and_change_their_own_profile(customer_client, customer, other_customer):
    Customer.objects.filter(pk=other_customer.pk).update(
        display_name="남의 회사", cc_emails=["secret@other.co.kr"], representative_name="남대표"
    )
    other_before = _row(other_customer)
    body = customer_client.get(PROFILE).json()
    assert body["company_name"] == "주식회사 테스트상사"
    assert "secret@other.co.kr" not in str(body) and "남대표" not in str(body)

    changed = customer_client.patch(PROFILE, {"representative_name": "내대표"}, format="json")
    assert changed.json()["representative_name"] == "내대표"
    assert _row(other_customer) == other_before
    customer.refresh_from_db()
    assert customer.representative_name == "내대표"


@pytest.mark.parametrize("staff", ["support_user", "billing_staff_user"])
def test_staff_get_their_own_profile_never_a_customers(request, staff, customer):
    """With or without billing.change_customer, the endpoint has no id: staff reach customers in the admin."""
    user = request.getfixturevalue(staff)
    client = jwt_client(user)
    customer_before = _row(customer)
    body = client.get(PROFILE).json()
    assert body["company_name"] == user.get_username()
    assert client.patch(PROFILE, {"representative_name": "직원"}, format="json").status_code == 200
    assert Customer.objects.get(user=user).representative_name == "직원"
    assert _row(customer) == customer_before


def test_an_issued_invoice_keeps_its_buyer_snapshot_after_a_patch(customer_client, customer, issue):
    customer_client.patch(
        PROFILE,
        {"representative_name": "김대표", "business_type": "서비스", "business_item": "소프트웨어"},
        format="json",
    )
    invoice = issue(10_000)
    snapshot = (
        "buyer_name",
        "buyer_email",
        "buyer_business_number",
        "buyer_address",
        "buyer_representative",
        "buyer_business_type",
        "buyer_business_item",
        "language",
    )
    before = Invoice.objects.filter(pk=invoice.pk).values(*snapshot).get()
    assert (before["buyer_representative"], before["buyer_business_type"], before["buyer_business_item"]) == (
        "김대표",
        "서비스",
        "소프트웨어",
    )
    response = customer_client.patch(
        PROFILE, {**CONTACTS, "representative_name": "새대표", "business_item": "컨설팅"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Invoice.objects.filter(pk=invoice.pk).values(*snapshot).get() == before
    later = issue(20_000)
    assert (later.buyer_representative, later.buyer_business_item, later.buyer_name) == (
        "새대표",
        "컨설팅",
        "주식회사 바이어",
    )


@pytest.mark.parametrize("column", ["buyer_representative", "buyer_business_type", "buyer_business_item"])
def test_the_database_refuses_changing_the_new_snapshot_columns_of_an_issued_invoice(customer, issue, column):
    invoice = issue(10_000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**{column: "위조"})
    assert getattr(Invoice.objects.get(pk=invoice.pk), column) == ""
    draft = InvoiceFactory(customer=customer)  # a draft is still free to change
    Invoice.objects.filter(pk=draft.pk).update(**{column: "초안"})
    assert getattr(Invoice.objects.get(pk=draft.pk), column) == "초안"


def test_a_form_body_is_refused_with_415_and_changes_nothing(customer_client: Any, customer: Customer) -> None:
    before = _row(customer)

    response = customer_client.patch(PROFILE, {"cc_emails": "", "company_name": "폼 회사"}, format="multipart")

    assert response.status_code == 415
    assert "error" in response.json()
    assert _row(customer) == before


@pytest.mark.parametrize("value", [0, 12, True, None, {"name": "x"}, ["x"]])
def test_a_text_field_takes_a_string_only(customer_client: Any, customer: Customer, value: Any) -> None:
    before = _row(customer)

    company = customer_client.patch(PROFILE, {"company_name": value}, format="json")
    cc = customer_client.patch(PROFILE, {"cc_emails": [value]}, format="json")

    assert (company.status_code, cc.status_code) == (400, 400)
    assert "company_name" in company.json()["error"]["fields"]
    assert _row(customer) == before
