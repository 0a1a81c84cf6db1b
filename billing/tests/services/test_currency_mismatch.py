"""Everything of a customer is in the customer's one currency (issue 17): what would mix currencies is refused
before anything is written (plan changes, coupons, balance, manual invoices, orders, credit notes)."""

from datetime import date
from typing import Any

import pytest

from billing.enums import BalanceEntryKind, CouponDuration, CreditSettlement, PaymentMethod, TaxTreatment
from billing.models import Customer, CustomerBalanceEntry, Invoice, Order
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.services.balance import balance_entry_write
from billing.services.coupons import coupon_apply_to_customer, coupon_create, promotion_code_create
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue, invoice_issue_for_order, invoice_issue_requested
from billing.services.orders import OrderItemInput, order_create, order_place
from billing.services.payments import payment_record
from billing.services.subscriptions import subscription_change_plan, subscription_create
from billing.tests.factories import CustomerFactory, SubscriptionPlanFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

MONTHLY = "monthly"
JAN_1, JAN_10 = date(2025, 1, 1), date(2025, 1, 10)


@pytest.fixture
def priced() -> dict[str, SubscriptionPlan]:
    return {
        "basic": SubscriptionPlanFactory.create(slug="basic", monthly_price=29_000, prices={"USD": (2_900, 29_000)}),
        "pro": SubscriptionPlanFactory.create(slug="pro", monthly_price=99_000, prices={"USD": (7_900, 79_000)}),
        "premium": SubscriptionPlanFactory.create(slug="premium", monthly_price=199_000),  # KRW only
        "lite": SubscriptionPlanFactory.create(slug="lite", monthly_price=9_000),  # KRW only
    }


@pytest.fixture
def dollar_customer(priced) -> Customer:
    """A customer billed in USD (its first subscription, basic, paid)."""
    customer = CustomerFactory.create()
    started = subscription_create(
        customer=customer, plan=priced["basic"], billing_period=MONTHLY, now=seoul(JAN_1), currency="USD"
    )
    pay(started.invoice)
    customer.refresh_from_db()
    return customer


def refused(call: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value


def books(customer: Customer) -> tuple[Any, ...]:
    """What a refusal must leave as it was."""
    customer.refresh_from_db()
    return (
        list(Subscription.objects.filter(customer=customer).values_list("pk", "status", "plan_id", "pending_plan_id")),
        Invoice.objects.filter(customer=customer).count(),
        Order.objects.filter(customer=customer).count(),
        CustomerBalanceEntry.objects.filter(customer=customer).count(),
        customer.currency,
        customer.credit_balance,
    )


# --- plan changes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "when"),
    [
        ("premium", "auto"),  # an upgrade: now
        ("lite", "auto"),  # a downgrade: at the period end
        ("premium", "now"),
        ("lite", "period_end"),
    ],
)
def test_a_plan_change_to_a_plan_not_sold_in_the_subscription_currency_is_409(dollar_customer, priced, plan, when):
    before = books(dollar_customer)

    error = refused(
        lambda: subscription_create(
            customer=dollar_customer, plan=priced[plan], billing_period=MONTHLY, now=seoul(JAN_10), when=when
        )
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert "USD" in error.message
    assert books(dollar_customer) == before


def test_staff_cannot_move_a_subscription_to_a_plan_not_sold_in_its_currency(dollar_customer, priced):
    live = Subscription.objects.get(customer=dollar_customer)
    before = books(dollar_customer)

    error = refused(lambda: subscription_change_plan(subscription=live, plan=priced["premium"], now=seoul(JAN_10)))

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert books(dollar_customer) == before


def test_a_plan_change_asking_another_currency_is_409(dollar_customer, priced):
    before = books(dollar_customer)

    error = refused(
        lambda: subscription_create(
            customer=dollar_customer, plan=priced["pro"], billing_period=MONTHLY, now=seoul(JAN_10), currency="KRW"
        )
    )

    assert (error.code, error.status_code, error.fields) == ("currency_mismatch", 409, {"currency": ["Must be USD."]})
    assert books(dollar_customer) == before


def test_a_plan_change_in_the_same_currency_is_allowed(dollar_customer, priced):
    started = subscription_create(
        customer=dollar_customer, plan=priced["pro"], billing_period=MONTHLY, now=seoul(JAN_10), currency="USD"
    )
    assert (started.subscription.currency, started.subscription.price_amount) == ("USD", 7_900)


# --- coupons ----------------------------------------------------------------------------------------------


def _coupon(code: str, **options: Any) -> Any:
    coupon = coupon_create(actor=None, name=code, duration=CouponDuration.ONCE, **options)
    promotion_code_create(actor=None, coupon=coupon, code=code)
    return coupon


def test_an_amount_coupon_in_another_currency_is_409(priced):
    _coupon("WON", amount_off=5_000, currency="KRW")
    customer = CustomerFactory.create()

    error = refused(
        lambda: subscription_create(
            customer=customer, plan=priced["pro"], billing_period=MONTHLY, currency="USD", coupon="WON"
        )
    )

    # The issue's code for currencies that would mix, saying which currencies, on the coupon field.
    assert (error.code, error.status_code, error.message) == (
        "currency_mismatch",
        409,
        "The coupon WON is an amount in KRW; this plan is billed in USD.",
    )
    assert error.fields == {"coupon": [error.message]}
    assert not Subscription.objects.filter(customer=customer).exists()


def test_an_amount_coupon_in_the_subscription_currency_discounts_it(priced):
    _coupon("DOLLAR", amount_off=1_000, currency="USD")
    customer = CustomerFactory.create()

    started = subscription_create(
        customer=customer, plan=priced["pro"], billing_period=MONTHLY, currency="USD", coupon="dollar"
    )

    assert [(line.kind, line.amount) for line in started.invoice.lines.order_by("position")] == [
        ("item", 7_900),
        ("discount", -1_000),
    ]
    assert (started.invoice.currency, started.invoice.total) == ("USD", 6_900)


def test_staff_cannot_give_an_amount_coupon_in_another_currency(dollar_customer, billing_staff_user):
    coupon = _coupon("WON", amount_off=5_000, currency="KRW")

    error = refused(lambda: coupon_apply_to_customer(customer=dollar_customer, coupon=coupon, actor=billing_staff_user))

    assert (error.code, error.status_code, error.message) == (
        "currency_mismatch",
        409,
        "The coupon WON is in KRW; the customer pays in USD.",
    )
    assert not dollar_customer.coupon_redemptions.exists()


# --- balance and credit notes ----------------------------------------------------------------------------


def test_the_balance_takes_only_the_customer_currency(dollar_customer):
    from django.db import transaction

    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=dollar_customer.pk)
        error = refused(
            lambda: balance_entry_write(customer=locked, amount=100, kind=BalanceEntryKind.ADJUSTMENT, currency="KRW")
        )
    assert (error.code, error.status_code) == ("currency_mismatch", 409)


def test_a_credit_note_follows_its_invoice_currency_onto_the_balance(dollar_customer):
    invoice = Invoice.objects.get(customer=dollar_customer)

    note = credit_note_issue(invoice=invoice, reason="goodwill", actor=None, settlement=CreditSettlement.BALANCE)

    assert (note.currency, note.balance_amount) == ("USD", invoice.total)
    entry = CustomerBalanceEntry.objects.get(customer=dollar_customer, credit_note=note)
    assert (entry.currency, entry.amount) == ("USD", invoice.total)


def test_a_credit_note_of_an_old_invoice_in_another_currency_never_reaches_the_balance(priced):
    customer = CustomerFactory.create()
    old = invoice_issue(customer=customer, lines=[InvoiceLineInput("Thing", 10_000)], currency="KRW")
    payment_record(invoice=old, amount=old.total, method=PaymentMethod.BANK_TRANSFER, provider_reference="old")
    Customer.objects.filter(pk=customer.pk).update(currency="USD")  # data from before currencies were fixed
    before = books(customer)

    error = refused(lambda: credit_note_issue(invoice=old, reason="goodwill", actor=None, settlement="balance"))

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert books(customer) == before


# --- manual invoices and orders ----------------------------------------------------------------------------


def test_a_manual_invoice_in_another_currency_than_a_fixed_one_is_409(dollar_customer, billing_staff_user):
    before = books(dollar_customer)

    error = refused(
        lambda: invoice_issue_requested(
            customer=dollar_customer, actor=billing_staff_user, amount=5_000, currency="KRW"
        )
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert books(dollar_customer) == before


def test_a_manual_invoice_is_in_the_customer_currency_by_default(dollar_customer, billing_staff_user):
    invoice = invoice_issue_requested(customer=dollar_customer, actor=billing_staff_user, amount=5_000)
    assert (invoice.currency, invoice.subtotal) == ("USD", 5_000)


def test_a_first_manual_invoice_chooses_the_currency_and_keeps_the_tax_treatment(billing_staff_user):
    customer = CustomerFactory.create()

    invoice = invoice_issue_requested(customer=customer, actor=billing_staff_user, amount=10_000, currency="eur")

    assert (invoice.currency, invoice.tax, invoice.total) == ("EUR", 1_000, 11_000)
    customer.refresh_from_db()
    assert (customer.currency, customer.tax_treatment) == ("EUR", TaxTreatment.TAXABLE)
    error = refused(
        lambda: invoice_issue_requested(customer=customer, actor=billing_staff_user, amount=10_000, currency="KRW")
    )
    assert error.code == "currency_mismatch"


def test_an_order_in_another_currency_than_a_fixed_one_is_409(dollar_customer):
    before = books(dollar_customer)

    error = refused(
        lambda: order_place(customer=dollar_customer, items=[OrderItemInput("Seat", 1_000)], currency="KRW")
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert books(dollar_customer) == before
    assert order_place(customer=dollar_customer, items=[OrderItemInput("Seat", 1_000)]).currency == "USD"


def test_an_old_order_in_another_currency_cannot_be_invoiced_to_a_fixed_customer(dollar_customer):
    order = order_create(customer=dollar_customer, items=[OrderItemInput("Seat", 1_000)], currency="KRW")
    before = books(dollar_customer)

    error = refused(lambda: invoice_issue_for_order(order=order))

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert books(dollar_customer) == before
