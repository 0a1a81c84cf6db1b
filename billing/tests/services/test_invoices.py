"""Invoice lifecycle: drafts, finalization and numbering, every transition allowed and refused, immutability."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from billing.enums import InvoiceStatus, TaxTreatment
from billing.models import Customer, Invoice, InvoiceLine, InvoiceNumberSequence
from billing.services.customers import customer_tax_treatment_set, customer_update
from billing.services.invoices import (
    InvoiceLineInput,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_draft_lines_replace,
    invoice_finalize,
    invoice_issue,
    invoice_issue_for_order,
    invoice_issue_requested,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.services.numbering import billing_today
from billing.services.orders import OrderItemInput, order_cancel, order_create
from billing.services.payments import payment_record
from billing.tests.factories import InvoiceNumberSequenceFactory, StaffUserFactory
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

LINE = InvoiceLineInput(description="Pro 플랜 (월간)", unit_amount=99_000)


def _number(day: date, sequence: int) -> str:
    return f"{day:%Y%m%d}-{sequence:04d}"


# --- drafts and totals ---------------------------------------------------------------------------------


def test_draft_has_totals_but_no_number(customer):
    draft = invoice_draft_create(customer=customer, lines=[LINE, InvoiceLineInput("추가 좌석", 5_500, 2)])
    assert (draft.status, draft.number, draft.issue_date) == ("draft", None, None)
    assert (draft.subtotal, draft.tax, draft.total, draft.amount_remaining) == (110_000, 11_000, 121_000, 121_000)
    assert draft.pdf_status == "none"


@pytest.mark.parametrize(
    ("amount", "tax", "expected_tax"),
    [(1, None, 0), (19, None, 1), (99_999, None, 9_999), (10**12, None, 10**11), (50_000, 5_000, 5_000), (1, 0, 0)],
)
def test_tax_is_the_servers_truncated_vat_and_the_same_value_sent_is_accepted(customer, amount, tax, expected_tax):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("x", amount)], tax=tax)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (amount, expected_tax, amount + expected_tax)


@pytest.mark.parametrize(("amount", "tax"), [(1_000, 0), (1_000, 10**12), (1_000, 99), (50_000, 1234)])
def test_a_tax_other_than_the_servers_vat_is_refused_and_takes_no_number(customer, amount, tax):
    with pytest.raises(ApplicationError) as refused:
        invoice_issue(customer=customer, lines=[InvoiceLineInput("x", amount)], tax=tax)
    assert (refused.value.code, refused.value.status_code) == ("tax_mismatch", 400)
    assert "tax" in refused.value.fields
    assert not Invoice.objects.exists()
    assert invoice_issue(customer=customer, lines=[LINE]).number == _number(billing_today(), 1)


@pytest.mark.parametrize(
    ("treatment", "tax"), [(TaxTreatment.TAXABLE, 9_999), (TaxTreatment.ZERO_RATED, 0), (TaxTreatment.EXEMPT, 0)]
)
def test_the_customers_tax_treatment_sets_the_vat_of_invoices_drafts_and_orders(customer, treatment, tax):
    customer_tax_treatment_set(customer=customer, tax_treatment=treatment, actor=None)
    customer.refresh_from_db()
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("x", 99_999)])
    assert (invoice.subtotal, invoice.tax, invoice.total) == (99_999, tax, 99_999 + tax)

    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput("x", 1)])
    replaced = invoice_draft_lines_replace(invoice=draft, lines=[InvoiceLineInput("x", 99_999)])
    assert replaced.tax == tax

    order = order_create(customer=customer, items=[OrderItemInput("x", 99_999)])
    assert order.tax == tax
    from_order = invoice_issue_for_order(order=order)
    assert (from_order.tax, from_order.total) == (tax, 99_999 + tax)


def test_an_exempt_customer_cannot_be_sent_the_taxable_vat(customer):
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=None)
    customer.refresh_from_db()
    with pytest.raises(ApplicationError) as refused:
        invoice_issue(customer=customer, lines=[InvoiceLineInput("x", 1_000)], tax=100)
    assert refused.value.code == "tax_mismatch"
    assert invoice_issue(customer=customer, lines=[InvoiceLineInput("x", 1_000)], tax=0).total == 1_000


def test_a_subscription_invoice_follows_the_customers_tax_treatment(customer):
    from billing.models.plans import SubscriptionPlan
    from billing.services.plans import plan_file_load, plans_sync
    from billing.services.subscriptions import subscription_create

    plans_sync(plan_file=plan_file_load())
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.ZERO_RATED, actor=None)
    customer.refresh_from_db()
    started = subscription_create(
        customer=customer, plan=SubscriptionPlan.objects.get(slug="pro"), billing_period="monthly"
    )
    assert (started.invoice.subtotal, started.invoice.tax, started.invoice.total) == (99_000, 0, 99_000)


def test_an_order_priced_under_another_tax_treatment_is_not_invoiced(customer):
    order = order_create(customer=customer, items=[OrderItemInput("x", 10_000)])
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=None)
    with pytest.raises(ApplicationError) as refused:
        invoice_issue_for_order(order=order)
    assert (refused.value.code, refused.value.status_code) == ("order_tax_outdated", 409)
    order.refresh_from_db()
    assert order.status == "pending"
    assert not Invoice.objects.exists()


def test_only_billing_staff_set_a_tax_treatment(customer):
    support = StaffUserFactory(username="support-agent", group="support")
    with pytest.raises(ApplicationError) as refused:
        customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=support)
    assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    with pytest.raises(ApplicationError) as own:
        customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=customer.user)
    assert own.value.status_code == 403
    customer.refresh_from_db()
    assert customer.tax_treatment == TaxTreatment.TAXABLE

    accountant = StaffUserFactory(username="accountant-2", group="billing staff")
    updated = customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=accountant)
    assert updated.tax_treatment == TaxTreatment.EXEMPT
    with pytest.raises(ApplicationError) as unknown:
        customer_tax_treatment_set(customer=customer, tax_treatment="reduced", actor=accountant)
    assert unknown.value.code == "invalid_tax_treatment"


def test_the_database_refuses_an_unknown_tax_treatment(customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(tax_treatment="reduced")
    customer.refresh_from_db()
    assert customer.tax_treatment == TaxTreatment.TAXABLE


# --- what customers may invoice themselves (BILLING_CUSTOMER_INVOICES) ----------------------------------------


def test_by_default_customers_invoice_themselves_any_amount(customer, settings):
    assert settings.BILLING_CUSTOMER_INVOICES == "any"
    invoice = invoice_issue_requested(customer=customer, actor=customer.user, amount=12_345)
    assert invoice.subtotal == 12_345


def test_orders_only_refuses_free_amounts_and_takes_no_number(customer, settings):
    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    with pytest.raises(ApplicationError) as refused:
        invoice_issue_requested(customer=customer, actor=customer.user, amount=12_345)
    assert (refused.value.code, refused.value.status_code) == ("customer_invoices_orders_only", 403)
    assert not Invoice.objects.exists()
    assert not InvoiceNumberSequence.objects.filter(last_number__gt=0).exists()


def test_orders_only_lets_customers_invoice_their_own_orders(customer, settings):
    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000)])
    invoice = invoice_issue_requested(customer=customer, actor=customer.user, order=order)
    assert (invoice.order_id, invoice.total) == (order.pk, 108_900)


def test_orders_only_still_lets_staff_bill_a_customer(customer, settings):
    accountant = StaffUserFactory(username="accountant-3", group="billing staff")
    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    invoice = invoice_issue_requested(customer=customer, actor=accountant, amount=5_000)
    assert (invoice.customer_id, invoice.total) == (customer.pk, 5_500)


def test_an_unknown_policy_is_treated_as_orders_only_and_fails_the_system_check(customer, settings):
    from billing.checks import check_billing_settings

    settings.BILLING_CUSTOMER_INVOICES = "order_only"  # a typo must not open the door
    assert "billing.E004" in [message.id for message in check_billing_settings()]
    with pytest.raises(ApplicationError) as refused:
        invoice_issue_requested(customer=customer, actor=customer.user, amount=1_000)
    assert refused.value.code == "customer_invoices_orders_only"
    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    assert "billing.E004" not in [message.id for message in check_billing_settings()]


def test_two_digit_currency_invoice(customer):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Seat", 1999, 3)], currency="USD")
    assert (invoice.currency, invoice.subtotal, invoice.tax, invoice.total) == ("USD", 5997, 599, 6596)


def test_credit_lines_reduce_the_subtotal(customer):
    invoice = invoice_issue(
        customer=customer,
        lines=[
            InvoiceLineInput("Business 플랜", 199_000, period_start=date(2025, 3, 1), period_end=date(2025, 3, 31)),
            InvoiceLineInput("Pro 플랜 미사용분 환급", -49_500),
        ],
    )
    assert (invoice.subtotal, invoice.tax, invoice.total) == (149_500, 14_950, 164_450)
    assert [line.amount for line in invoice.lines.order_by("position")] == [199_000, -49_500]


def test_credits_larger_than_charges_are_refused(customer):
    with pytest.raises(ApplicationError) as refused:
        invoice_issue(customer=customer, lines=[InvoiceLineInput("a", 1_000), InvoiceLineInput("credit", -2_000)])
    assert refused.value.code == "negative_subtotal"


def test_fully_credited_invoice_is_paid_at_finalization(customer):
    invoice = invoice_issue(
        customer=customer, lines=[InvoiceLineInput("a", 10_000), InvoiceLineInput("credit", -10_000)]
    )
    assert (invoice.status, invoice.total, invoice.amount_remaining) == ("paid", 0, 0)
    assert invoice.paid_at is not None and invoice.number


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([], "invoice_has_no_lines"),
        ([InvoiceLineInput("", 100)], "invalid_line"),
        ([InvoiceLineInput("x", 100, quantity=0)], "invalid_line"),
        ([InvoiceLineInput("x", 10**15 + 1)], "invalid_amount"),
        ([InvoiceLineInput("x", 100, period_start=date(2025, 2, 1), period_end=date(2025, 1, 1))], "invalid_line"),
    ],
)
def test_invalid_lines_are_refused(customer, lines, code):
    with pytest.raises(ApplicationError) as refused:
        invoice_draft_create(customer=customer, lines=lines)
    assert refused.value.code == code
    assert not Invoice.objects.exists()


def test_draft_lines_can_be_replaced_and_the_draft_deleted(customer):
    draft = invoice_draft_create(customer=customer, lines=[LINE])
    replaced = invoice_draft_lines_replace(invoice=draft, lines=[InvoiceLineInput("Starter", 29_000)])
    assert (replaced.subtotal, replaced.total, replaced.lines.count()) == (29_000, 31_900, 1)
    invoice_draft_delete(invoice=replaced)
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()


# --- finalization and numbering ------------------------------------------------------------------------


def test_finalization_numbers_dates_and_snapshots_the_buyer(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE], days_until_due=14)
    today = billing_today()
    assert invoice.number == _number(today, 1)
    assert (invoice.status, invoice.issue_date, invoice.due_date) == ("open", today, today + timedelta(days=14))
    assert (invoice.buyer_name, invoice.buyer_business_number) == ("주식회사 테스트상사", "2208162517")
    assert invoice.pdf_status == "pending"

    customer_update(customer=customer, display_name="새 이름", business_registration_number="")
    invoice.refresh_from_db()
    assert (invoice.buyer_name, invoice.buyer_business_number) == ("주식회사 테스트상사", "2208162517")


def test_numbers_are_consecutive_per_day(customer):
    numbers = [invoice_issue(customer=customer, lines=[LINE]).number for _ in range(3)]
    today = billing_today()
    assert numbers == [_number(today, 1), _number(today, 2), _number(today, 3)]


@pytest.mark.parametrize(
    ("utc_moment", "number_day"),
    [
        (datetime(2025, 1, 31, 14, 59, tzinfo=UTC), date(2025, 1, 31)),  # 23:59 in Seoul
        (datetime(2025, 1, 31, 15, 0, tzinfo=UTC), date(2025, 2, 1)),  # midnight in Seoul, still Jan 31 in UTC
        (datetime(2024, 12, 31, 20, 0, tzinfo=UTC), date(2025, 1, 1)),
    ],
)
def test_the_number_date_is_the_day_in_seoul(customer, utc_moment, number_day):
    invoice = invoice_finalize(invoice=invoice_draft_create(customer=customer, lines=[LINE]), now=utc_moment)
    assert invoice.number == _number(number_day, 1)
    assert invoice.issue_date == number_day


def test_each_day_starts_again_at_one(customer):
    first = invoice_finalize(
        invoice=invoice_draft_create(customer=customer, lines=[LINE]), now=datetime(2025, 3, 1, 3, tzinfo=UTC)
    )
    second = invoice_finalize(
        invoice=invoice_draft_create(customer=customer, lines=[LINE]), now=datetime(2025, 3, 2, 3, tzinfo=UTC)
    )
    assert (first.number, second.number) == ("20250301-0001", "20250302-0001")


def test_a_rolled_back_finalization_consumes_no_number(customer):
    draft = invoice_draft_create(customer=customer, lines=[LINE])
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_finalize(invoice=draft)
        raise RuntimeError("something after the number failed")
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("draft", None)
    assert invoice_finalize(invoice=draft).number == _number(billing_today(), 1)
    assert invoice_issue(customer=customer, lines=[LINE]).number == _number(billing_today(), 2)


def test_a_refused_finalization_consumes_no_number(customer):
    order = order_create(customer=customer, items=[OrderItemInput("x", 1_000)])
    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput("x", 1_000)], order=order, tax=100)
    order_cancel(order=order)
    with pytest.raises(ApplicationError) as refused:
        invoice_finalize(invoice=draft)
    assert refused.value.code == "order_not_invoiceable"
    assert invoice_issue(customer=customer, lines=[LINE]).number == _number(billing_today(), 1)


def test_numbers_grow_past_9999(customer):
    today = billing_today()
    InvoiceNumberSequenceFactory.create(day=today, last_number=9_998)
    assert invoice_issue(customer=customer, lines=[LINE]).number == _number(today, 9_999)
    assert invoice_issue(customer=customer, lines=[LINE]).number == f"{today:%Y%m%d}-10000"


def test_finalizing_twice_is_refused(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(ApplicationError) as refused:
        invoice_finalize(invoice=invoice)
    assert (refused.value.code, refused.value.status_code) == ("invalid_invoice_transition", 409)


# --- every transition, allowed and refused --------------------------------------------------------------


def _in_status(status: str, customer, billing_staff_user) -> Invoice:
    if status == "draft":
        return invoice_draft_create(customer=customer, lines=[LINE])
    invoice = invoice_issue(customer=customer, lines=[LINE])
    if status == "paid":
        payment_record(invoice=invoice, amount=invoice.total, method="bank_transfer")
    elif status == "void":
        invoice_void(invoice=invoice, actor=billing_staff_user)
    elif status == "uncollectible":
        invoice_mark_uncollectible(invoice=invoice, actor=billing_staff_user)
    invoice.refresh_from_db()
    assert invoice.status == status
    return invoice


def _move(invoice: Invoice, target: str, billing_staff_user) -> None:
    if target == "open":
        invoice_finalize(invoice=invoice)
    elif target == "paid":
        payment_record(invoice=invoice, amount=max(invoice.amount_remaining, 1), method="bank_transfer")
    elif target == "void":
        invoice_void(invoice=invoice, actor=billing_staff_user)
    elif target == "uncollectible":
        invoice_mark_uncollectible(invoice=invoice, actor=billing_staff_user)


# Written out here on purpose (not read from INVOICE_TRANSITIONS): this is the specification.
ALLOWED = {
    ("draft", "open"),
    ("open", "paid"),
    ("open", "void"),
    ("open", "uncollectible"),
    ("uncollectible", "paid"),
    ("uncollectible", "void"),
}
PAIRS = [
    (source, target)
    for source in ("draft", "open", "paid", "void", "uncollectible")
    for target in ("open", "paid", "void", "uncollectible")
    if source != target
]


@pytest.mark.parametrize(("source", "target"), [pair for pair in PAIRS if pair in ALLOWED])
def test_allowed_transition(customer, billing_staff_user, source, target):
    invoice = _in_status(source, customer, billing_staff_user)
    _move(invoice, target, billing_staff_user)
    invoice.refresh_from_db()
    assert invoice.status == target
    timestamp = {
        "open": "finalized_at",
        "paid": "paid_at",
        "void": "voided_at",
        "uncollectible": "marked_uncollectible_at",
    }
    assert getattr(invoice, timestamp[target]) is not None


@pytest.mark.parametrize(("source", "target"), [pair for pair in PAIRS if pair not in ALLOWED])
def test_refused_transition(customer, billing_staff_user, source, target):
    invoice = _in_status(source, customer, billing_staff_user)
    before = Invoice.objects.values().get(pk=invoice.pk)
    with pytest.raises(ApplicationError) as refused:
        _move(invoice, target, billing_staff_user)
    assert refused.value.code in ("invalid_invoice_transition", "invoice_not_payable")
    assert refused.value.status_code == 409
    assert Invoice.objects.values().get(pk=invoice.pk) == before


def test_void_and_uncollectible_are_staff_only(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    for service in (invoice_void, invoice_mark_uncollectible):
        with pytest.raises(ApplicationError) as refused:
            service(invoice=invoice, actor=customer.user)
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    invoice.refresh_from_db()
    assert invoice.status == "open"


def test_an_invoice_with_payments_cannot_be_voided(customer, billing_staff_user):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    payment_record(invoice=invoice, amount=1_000, method="bank_transfer")
    with pytest.raises(ApplicationError) as refused:
        invoice_void(invoice=invoice, actor=billing_staff_user)
    assert refused.value.code == "invoice_has_payments"


# --- orders follow their invoice ------------------------------------------------------------------------


def test_order_is_invoiced_paid_or_back_to_pending_with_its_invoice(customer, billing_staff_user):
    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000, 2)])
    invoice = invoice_issue_for_order(order=order)
    order.refresh_from_db()
    assert order.status == "invoiced"
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.order_id) == (198_000, 19_800, 217_800, order.pk)
    assert [(line.description, line.quantity, line.unit_amount) for line in invoice.lines.all()] == [
        ("Pro 플랜", 2, 99_000)
    ]

    with pytest.raises(ApplicationError) as twice:
        invoice_issue_for_order(order=order)
    assert twice.value.code == "order_not_invoiceable"

    invoice_void(invoice=invoice, actor=billing_staff_user)
    order.refresh_from_db()
    assert order.status == "pending"  # a correction is void + new invoice

    corrected = invoice_issue_for_order(order=order)
    payment_record(invoice=corrected, amount=corrected.total, method="bank_transfer")
    order.refresh_from_db()
    assert order.status == "paid"


# --- immutability ---------------------------------------------------------------------------------------


def test_issued_invoice_lines_cannot_be_replaced_nor_the_invoice_deleted_by_services(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(ApplicationError) as edit:
        invoice_draft_lines_replace(invoice=invoice, lines=[InvoiceLineInput("cheaper", 1)])
    with pytest.raises(ApplicationError) as delete:
        invoice_draft_delete(invoice=invoice)
    assert edit.value.code == delete.value.code == "invoice_not_editable"
    invoice.refresh_from_db()
    assert invoice.total == 108_900


@pytest.mark.parametrize(
    "change",
    [
        {"total": 1, "subtotal": 0, "tax": 1},
        {"number": "20000101-0001"},
        {"currency": "USD"},
        {"issue_date": date(2000, 1, 1)},
        {"buyer_name": "someone else"},
        {"status": "draft"},
    ],
    ids=["amounts", "number", "currency", "issue-date", "buyer", "back-to-draft"],
)
def test_database_refuses_changes_to_an_issued_invoice(customer, change):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_database_refuses_moving_an_issued_invoice_to_another_customer(customer, other_customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(customer=other_customer)


def test_database_refuses_touching_the_lines_of_an_issued_invoice(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).update(unit_amount=1, amount=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(invoice=invoice, description="sneaky", unit_amount=1, amount=1)
    assert list(invoice.lines.values_list("amount", flat=True)) == [99_000]


def test_database_refuses_deleting_an_issued_invoice_or_its_lines(postgresql, customer):
    """PostgreSQL only: SQLite (development) leaves deletes to the services, so that `flush` works there."""
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).delete()
    assert invoice.lines.count() == 1


def test_database_still_allows_what_may_change_after_issue(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    Invoice.objects.filter(pk=invoice.pk).update(
        pdf_error="x", stripe_hosted_invoice_url="https://invoice.stripe.com/i/x"
    )
    invoice.refresh_from_db()
    assert invoice.stripe_hosted_invoice_url.endswith("/x")


@pytest.mark.parametrize(
    "change",
    [{"amount_paid": 1}, {"amount_remaining": -1, "amount_paid": 108_901}, {"status": "paid"}, {"status": "bogus"}],
    ids=["paid-plus-remaining", "negative-remaining", "paid-without-paid-at", "unknown-status"],
)
def test_database_check_constraints_hold(customer, change):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_number_is_unique_in_the_database(customer):
    invoice = invoice_issue(customer=customer, lines=[LINE])
    draft = invoice_draft_create(customer=customer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=draft.pk).update(
            status=InvoiceStatus.OPEN,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            finalized_at=invoice.finalized_at,
        )
