"""The billing factories build valid, saved objects that the database accepts, and issue through the services."""

import re
from datetime import date, datetime, time

import pytest
from django.db import DatabaseError, transaction

from billing.enums import InvoicePdfStatus, InvoiceStatus, OrderStatus, PaymentMethod, PaymentStatus, TaxTreatment
from billing.models import Invoice
from billing.money import vat_amount
from billing.periods import BILLING_TIME_ZONE
from conftest import DEFAULT_PASSWORD

from .factories import (
    CustomerFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    OrderFactory,
    OrderItemFactory,
    PaymentFactory,
    SubscriptionInvoiceFactory,
    SubscriptionPlanFactory,
    UserFactory,
    WebhookEventTriggerFactory,
)

pytestmark = pytest.mark.django_db

NUMBER = re.compile(r"^\d{8}-\d{4}$")


def test_user_is_saved_with_the_test_password_and_unique_names() -> None:
    first, second = UserFactory.create(), UserFactory.create()
    for user in (first, second):
        assert user.pk is not None
        assert user.check_password(DEFAULT_PASSWORD)
        user.full_clean()
    assert first.username != second.username
    assert first.email != second.email
    assert UserFactory.create(staff=True).is_staff
    admin = UserFactory.create(superuser=True)
    assert admin.is_staff and admin.is_superuser


def test_customer_is_a_valid_profile_of_its_own_user() -> None:
    first, second = CustomerFactory.create(), CustomerFactory.create()
    for customer in (first, second):
        customer.full_clean()
        assert customer.email == customer.user.email
        assert customer.tax_treatment == TaxTreatment.TAXABLE
        assert customer.credit_balance == 0
    assert first.user_id != second.user_id


def test_business_customer_has_a_valid_registration_number() -> None:
    customer = CustomerFactory.create(business=True)
    customer.full_clean()  # runs the 사업자등록번호 checksum validator
    assert customer.business_registration_number_display == "220-81-62517"


def test_order_has_one_item_that_makes_its_subtotal() -> None:
    order = OrderFactory.create()
    order.full_clean()
    assert order.status == OrderStatus.PENDING
    assert (order.subtotal, order.tax, order.total) == (99_000, 9_900, 108_900)
    [item] = order.items.all()
    item.full_clean()
    assert item.amount == item.quantity * item.unit_amount == order.subtotal


def test_order_of_an_exempt_customer_has_no_vat_and_items_can_be_added() -> None:
    order = OrderFactory.create(
        customer=CustomerFactory.create(tax_treatment=TaxTreatment.EXEMPT), subtotal=30_000, item=None
    )
    assert (order.tax, order.total) == (0, 30_000)
    OrderItemFactory.create(order=order, unit_amount=10_000, quantity=2, position=0)
    OrderItemFactory.create(order=order, unit_amount=10_000, position=1)
    assert sum(item.amount for item in order.items.all()) == order.subtotal
    assert OrderItemFactory.create().order.items.count() == 1


def test_draft_invoice_is_a_valid_unnumbered_draft_of_one_line() -> None:
    first, second = InvoiceFactory.create(), InvoiceFactory.create()
    for invoice in (first, second):
        invoice.full_clean()
        assert invoice.status == InvoiceStatus.DRAFT
        assert invoice.number is None and invoice.finalized_at is None
        assert invoice.total == invoice.subtotal + invoice.tax
        assert invoice.amount_remaining == invoice.total
        assert sum(line.amount for line in invoice.lines.all()) == invoice.subtotal
    assert first.customer_id != second.customer_id
    InvoiceLineFactory.create().full_clean()


def test_issued_invoice_has_a_number_and_its_total_is_subtotal_plus_tax() -> None:
    customer = CustomerFactory.create(business=True)
    invoice = InvoiceFactory.create(customer=customer, subtotal=120_000, status=InvoiceStatus.OPEN)
    invoice.full_clean()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.number and NUMBER.match(invoice.number)
    assert invoice.tax == vat_amount(supply_amount=120_000) == 12_000
    assert invoice.total == invoice.subtotal + invoice.tax == 132_000
    assert invoice.amount_remaining == invoice.total
    assert invoice.issue_date is not None and invoice.due_date is not None and invoice.finalized_at is not None
    assert invoice.buyer_business_number == "2208162517"  # the customer as it was when issued
    assert invoice.pdf_status == InvoicePdfStatus.PENDING  # renders when the transaction commits


def test_two_issued_invoices_get_consecutive_numbers_of_their_day() -> None:
    moment = datetime.combine(date(2025, 3, 14), time(10), tzinfo=BILLING_TIME_ZONE)
    first = InvoiceFactory.create(status=InvoiceStatus.OPEN, status__now=moment)
    second = InvoiceFactory.create(status=InvoiceStatus.OPEN, status__now=moment)
    assert first.number is not None and second.number is not None
    assert first.number.startswith("20250314-")
    assert second.number.startswith("20250314-")
    assert int(second.number[-4:]) == int(first.number[-4:]) + 1
    assert first.issue_date == date(2025, 3, 14)


@pytest.mark.parametrize(
    ("status", "timestamp"),
    [
        (InvoiceStatus.PAID, "paid_at"),
        (InvoiceStatus.VOID, "voided_at"),
        (InvoiceStatus.UNCOLLECTIBLE, "marked_uncollectible_at"),
    ],
)
def test_later_statuses_go_through_the_services(status: str, timestamp: str) -> None:
    invoice = InvoiceFactory.create(status=status)
    invoice.full_clean()
    assert invoice.status == status
    assert invoice.number and getattr(invoice, timestamp) is not None
    if status == InvoiceStatus.PAID:
        assert (invoice.amount_paid, invoice.amount_remaining) == (invoice.total, 0)
        assert invoice.payments.get().method == PaymentMethod.BANK_TRANSFER


def test_a_built_invoice_cannot_be_issued() -> None:
    with pytest.raises(ValueError, match="saved invoice"):
        InvoiceFactory.build(status=InvoiceStatus.OPEN)


def test_the_database_guards_what_the_factory_issued(postgresql: None) -> None:
    invoice = InvoiceFactory.create(status=InvoiceStatus.OPEN)
    with pytest.raises(DatabaseError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(subtotal=1, total=1 + invoice.tax)
    with pytest.raises(DatabaseError), transaction.atomic():
        invoice.lines.update(description="changed")


def test_payment_is_recorded_through_the_service_and_pays_the_invoice() -> None:
    first, second = PaymentFactory.create(), PaymentFactory.create()
    for payment in (first, second):
        payment.full_clean()
        assert payment.status == PaymentStatus.SUCCEEDED and payment.succeeded_at is not None
        assert payment.customer_id == payment.invoice.customer_id
        payment.invoice.refresh_from_db()
        assert payment.invoice.status == InvoiceStatus.PAID
        assert payment.invoice.amount_paid == payment.amount == payment.invoice.total
    assert first.provider_reference != second.provider_reference
    assert first.invoice_id != second.invoice_id


def test_partial_payment_leaves_the_invoice_open() -> None:
    invoice = InvoiceFactory.create(status=InvoiceStatus.OPEN)
    payment = PaymentFactory.create(invoice=invoice, amount=8_900)
    assert invoice.status == InvoiceStatus.OPEN  # refreshed by the factory
    assert (invoice.amount_paid, invoice.amount_remaining) == (8_900, invoice.total - 8_900)
    assert payment.amount == 8_900


def test_bank_transfer_recorded_by_staff_names_them(billing_staff_user) -> None:
    payment = PaymentFactory.create(recorded_by=billing_staff_user, provider_reference="KB-20250314-01")
    assert payment.recorded_by == billing_staff_user
    assert payment.method == PaymentMethod.BANK_TRANSFER


def test_pending_card_payment_moves_no_money() -> None:
    invoice = InvoiceFactory.create(status=InvoiceStatus.OPEN)
    payment = PaymentFactory.create(invoice=invoice, method=PaymentMethod.CARD, status=PaymentStatus.PENDING)
    payment.full_clean()
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.OPEN, 0)


def test_subscription_plan_is_valid_and_unique() -> None:
    first, second = SubscriptionPlanFactory.create(), SubscriptionPlanFactory.create(monthly_price=99_000)
    for plan in (first, second):
        plan.full_clean()
        assert plan.is_active
        assert plan.price_for("annual") == plan.price_for("monthly") * 10
    assert first.slug != second.slug
    assert second.annual_price == 990_000


def test_subscription_invoice_links_a_draft_of_the_subscriptions_customer_for_its_period() -> None:
    first, second = SubscriptionInvoiceFactory.create(), SubscriptionInvoiceFactory.create()
    for link in (first, second):
        link.full_clean()
        subscription = link.subscription
        assert link.invoice.customer_id == subscription.customer_id
        assert link.invoice.status == InvoiceStatus.DRAFT
        assert (link.period_start, link.period_end) == (
            subscription.current_period_start,
            subscription.current_period_end,
        )
    assert first.subscription_id != second.subscription_id


def test_webhook_event_trigger_is_a_verified_delivery_unless_told() -> None:
    assert WebhookEventTriggerFactory.create().valid is True
    junk = WebhookEventTriggerFactory.create(valid=False, headers={"Authorization": "Bearer x"})
    assert (junk.valid, junk.headers) == (False, {"Authorization": "Bearer x"})
