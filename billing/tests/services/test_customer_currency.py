"""A customer's currency (issue 17): chosen at the first subscription (or by staff while nothing is billed), fixed
from then on, and every subscription priced from the plan's price in it."""

from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from billing.enums import TaxTreatment
from billing.models import Customer, Invoice
from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.selectors.customers import customer_currency_fixed
from billing.services.balance import balance_adjust
from billing.services.customers import customer_currency_choose, customer_currency_set, customer_tax_treatment_set
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_checkout,
    subscription_create,
    subscription_renew,
)
from billing.tests.factories import (
    CustomerFactory,
    InvoiceFactory,
    SubscriptionFactory,
    SubscriptionPlanFactory,
)
from billing.tests.helpers import balance_give, seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

MONTHLY = "monthly"
JAN_1, JAN_10, FEB_1 = date(2025, 1, 1), date(2025, 1, 10), date(2025, 2, 1)


@pytest.fixture
def priced() -> dict[str, SubscriptionPlan]:
    """Two plans sold in KRW (their default), USD, EUR and JPY, and one sold in KRW only."""
    return {
        "basic": SubscriptionPlanFactory.create(
            slug="basic",
            monthly_price=29_000,
            annual_price=290_000,
            prices={"USD": (2_900, 29_000), "EUR": (2_700, 27_000), "JPY": (3_200, 32_000)},
        ),
        "pro": SubscriptionPlanFactory.create(
            slug="pro",
            monthly_price=99_000,
            annual_price=990_000,
            prices={"USD": (7_900, 79_000), "EUR": (7_200, 72_000), "JPY": (8_900, 89_000)},
        ),
        "local": SubscriptionPlanFactory.create(slug="local", monthly_price=10_000, annual_price=100_000),
    }


@pytest.fixture
def buyer() -> Customer:
    """A customer with no 사업자등록번호 and nothing billed yet (KRW, the default)."""
    return CustomerFactory.create()


def subscribe(customer: Customer, plan: SubscriptionPlan, day: date = JAN_1, **options: Any) -> Any:
    return subscription_create(customer=customer, plan=plan, billing_period=MONTHLY, now=seoul(day), **options)


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value.code, refused.value.status_code


# --- fixed or not ---------------------------------------------------------------------------------------


def test_a_new_customer_currency_is_not_fixed(buyer):
    assert customer_currency_fixed(customer=buyer) is False


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda customer: SubscriptionFactory.create(
                customer=customer, status="canceled", canceled_at=timezone.now(), ended_at=timezone.now()
            ),
            id="subscription",
        ),
        pytest.param(
            lambda customer: SubscriptionFactory.create(customer=customer, status="incomplete"), id="checkout"
        ),
        pytest.param(lambda customer: InvoiceFactory.create(customer=customer), id="invoice"),
        pytest.param(lambda customer: balance_give(customer, 1_000), id="balance-entry"),
    ],
)
def test_anything_billed_fixes_the_currency(buyer, make):
    make(buyer)
    assert customer_currency_fixed(customer=buyer) is True


def test_fixed_is_per_customer(buyer, priced):
    subscribe(CustomerFactory.create(), priced["pro"], currency="USD")
    assert customer_currency_fixed(customer=buyer) is False


# --- the first subscribe chooses it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "price", "total"),
    [
        ("USD", 7_900, 7_900),  # cents
        ("EUR", 7_200, 7_200),
        ("JPY", 8_900, 8_900),  # no minor unit
    ],
)
def test_a_first_subscribe_in_a_currency_prices_it_and_fixes_it(buyer, priced, currency, price, total):
    started = subscribe(buyer, priced["pro"], currency=currency)

    subscription, invoice = started.subscription, started.invoice
    assert (subscription.currency, subscription.price_amount) == (currency, price)
    assert (invoice.currency, invoice.subtotal, invoice.tax, invoice.total) == (currency, price, 0, total)
    buyer.refresh_from_db()
    assert buyer.currency == currency
    assert customer_currency_fixed(customer=buyer)
    # A foreign customer without a 사업자등록번호 is zero-rated (영세율) from its first invoice on.
    assert (buyer.tax_treatment, invoice.tax_treatment) == (TaxTreatment.ZERO_RATED, TaxTreatment.ZERO_RATED)


def test_a_korean_business_paying_in_dollars_stays_taxable(customer, priced):
    started = subscribe(customer, priced["pro"], currency="USD")

    invoice = started.invoice
    assert (invoice.currency, invoice.subtotal, invoice.tax, invoice.total) == ("USD", 7_900, 790, 8_690)
    customer.refresh_from_db()
    assert (customer.currency, customer.tax_treatment) == ("USD", TaxTreatment.TAXABLE)


def test_without_a_currency_a_new_customer_pays_in_krw(buyer, priced):
    started = subscribe(buyer, priced["pro"])

    assert (started.subscription.currency, started.subscription.price_amount) == ("KRW", 99_000)
    assert started.invoice.total == 108_900
    buyer.refresh_from_db()
    assert (buyer.currency, buyer.tax_treatment) == ("KRW", TaxTreatment.TAXABLE)


def test_without_a_currency_the_currency_staff_chose_is_used(buyer, priced, billing_staff_user):
    customer_currency_set(customer=buyer, currency="EUR", actor=billing_staff_user)

    started = subscribe(buyer, priced["basic"])

    assert (started.subscription.currency, started.subscription.price_amount) == ("EUR", 2_700)


def test_a_plan_sold_in_another_default_currency_is_priced_in_it(buyer):
    dollars_only = SubscriptionPlanFactory.create(slug="global", currency="USD", monthly_price=1_500, annual_price=0)

    started = subscribe(buyer, dollars_only)

    assert (started.subscription.currency, started.subscription.price_amount) == ("USD", 1_500)
    buyer.refresh_from_db()
    assert buyer.currency == "USD"


def test_a_plan_not_sold_in_the_currency_asked_is_409_and_nothing_changes(buyer, priced):
    assert code_of(lambda: subscribe(buyer, priced["local"], currency="USD")) == ("currency_mismatch", 409)
    assert code_of(lambda: subscribe(buyer, priced["pro"], currency="GBP")) == ("currency_mismatch", 409)

    buyer.refresh_from_db()
    assert (buyer.currency, buyer.tax_treatment) == ("KRW", TaxTreatment.TAXABLE)
    assert not Subscription.objects.filter(customer=buyer).exists()


@pytest.mark.parametrize("currency", ["usd", "", "US", "XXX", " USD", "USD" * 100, 840, ["USD"]])
def test_an_unknown_currency_is_400_before_anything(buyer, priced, currency):
    error = code_of(lambda: subscribe(buyer, priced["pro"], currency=currency))
    assert error == ("unsupported_currency", 400)
    assert not Subscription.objects.filter(customer=buyer).exists()


# --- fixed afterwards ----------------------------------------------------------------------------------


def test_after_the_first_subscription_another_currency_is_409(buyer, priced):
    first = subscribe(buyer, priced["pro"], currency="USD")
    subscription_cancel(subscription=first.subscription, immediately=True, now=seoul(JAN_10))

    assert code_of(lambda: subscribe(buyer, priced["pro"], JAN_10, currency="EUR")) == ("currency_mismatch", 409)
    assert Subscription.objects.filter(customer=buyer).count() == 1

    again = subscribe(buyer, priced["basic"], JAN_10)  # without a currency: the fixed one
    assert (again.subscription.currency, again.subscription.price_amount) == ("USD", 2_900)


def test_a_fixed_customer_cannot_subscribe_to_a_plan_not_sold_in_its_currency(buyer, priced):
    first = subscribe(buyer, priced["pro"], currency="JPY")
    subscription_cancel(subscription=first.subscription, immediately=True, now=seoul(JAN_10))

    assert code_of(lambda: subscribe(buyer, priced["local"], JAN_10)) == ("currency_mismatch", 409)
    buyer.refresh_from_db()
    assert buyer.currency == "JPY"


def test_a_checkout_of_a_fixed_customer_is_in_its_currency(buyer, priced):
    first = subscribe(buyer, priced["pro"], currency="USD")
    subscription_cancel(subscription=first.subscription, immediately=True, now=seoul(JAN_10))

    checkout = subscription_checkout(customer=buyer, plan=priced["basic"], billing_period=MONTHLY, now=seoul(JAN_10))

    assert (checkout.subscription.currency, checkout.subscription.price_amount) == ("USD", 2_900)
    assert (checkout.invoice.currency, checkout.invoice.subtotal, checkout.invoice.order.currency) == (
        "USD",
        2_900,
        "USD",
    )


def test_a_first_checkout_chooses_the_default_currency(buyer, priced):
    checkout = subscription_checkout(customer=buyer, plan=priced["pro"], billing_period=MONTHLY, now=seoul(JAN_1))

    assert (checkout.subscription.currency, checkout.invoice.currency) == ("KRW", "KRW")
    assert customer_currency_fixed(customer=buyer)


# --- plan changes keep the subscription's currency ----------------------------------------------------


@pytest.fixture
def basic_in_dollars(buyer, priced) -> Subscription:
    started = subscribe(buyer, priced["basic"], currency="USD")
    pay(started.invoice)
    return started.subscription


def test_an_upgrade_is_priced_in_the_subscription_currency_with_its_credit(buyer, priced, basic_in_dollars):
    started = subscribe(buyer, priced["pro"], JAN_10)

    assert (started.subscription.currency, started.subscription.price_amount) == ("USD", 7_900)
    assert started.replaced == basic_in_dollars
    # The 22 unused days of 31 of a paid $29.00 period: 2,900 x 22 / 31 = 2,058.06, truncated to the cent.
    assert [line.amount for line in started.invoice.lines.order_by("position")] == [7_900, -2_058]
    assert (started.invoice.currency, started.invoice.total) == ("USD", 7_900 - 2_058)


def test_a_downgrade_at_the_period_end_renews_in_the_subscription_currency(buyer, priced):
    started = subscribe(buyer, priced["pro"], currency="EUR")
    pay(started.invoice)
    pending = subscribe(buyer, priced["basic"], JAN_10)
    assert pending.scheduled

    (invoice,) = subscription_renew(subscription=started.subscription, as_of=FEB_1, now=seoul(FEB_1)).invoices

    renewed = Subscription.objects.get(pk=started.subscription.pk)
    assert (renewed.plan_id, renewed.currency, renewed.price_amount) == (priced["basic"].pk, "EUR", 2_700)
    assert (invoice.currency, invoice.subtotal) == ("EUR", 2_700)


def test_a_pending_plan_no_longer_sold_in_the_currency_is_dropped_at_the_renewal(buyer, priced):
    started = subscribe(buyer, priced["pro"], currency="EUR")
    pay(started.invoice)
    subscribe(buyer, priced["basic"], JAN_10)
    PlanPrice.objects.filter(plan=priced["basic"], currency="EUR").delete()

    (invoice,) = subscription_renew(subscription=started.subscription, as_of=FEB_1, now=seoul(FEB_1)).invoices

    renewed = Subscription.objects.get(pk=started.subscription.pk)
    assert (renewed.plan_id, renewed.currency, renewed.price_amount) == (priced["pro"].pk, "EUR", 7_200)
    assert not renewed.has_pending_change
    assert (invoice.currency, invoice.subtotal) == ("EUR", 7_200)


def test_a_trial_changes_plan_in_its_currency(buyer):
    trial = SubscriptionPlanFactory.create(
        slug="trial-pro", monthly_price=99_000, trial_days=14, prices={"USD": (7_900, 0)}
    )
    cheaper = SubscriptionPlanFactory.create(slug="trial-basic", monthly_price=29_000, prices={"USD": (2_900, 0)})
    started = subscribe(buyer, trial, currency="USD")
    assert started.subscription.status == "trialing"

    changed = subscribe(buyer, cheaper, JAN_10)

    assert changed.subscription.pk == started.subscription.pk
    assert (changed.subscription.currency, changed.subscription.price_amount) == ("USD", 2_900)


# --- staff set it while it is not fixed -----------------------------------------------------------------


def test_staff_set_the_currency_while_nothing_is_billed(buyer, billing_staff_user):
    updated = customer_currency_set(customer=buyer, currency="JPY", actor=billing_staff_user)

    assert updated.currency == "JPY"
    buyer.refresh_from_db()
    assert buyer.currency == "JPY"
    assert buyer.tax_treatment == TaxTreatment.TAXABLE  # the foreign default waits until something is billed


def test_staff_cannot_change_a_fixed_currency(buyer, priced, billing_staff_user):
    subscribe(buyer, priced["pro"], currency="USD")

    error = code_of(lambda: customer_currency_set(customer=buyer, currency="KRW", actor=billing_staff_user))

    assert error == ("currency_locked", 409)
    buyer.refresh_from_db()
    assert buyer.currency == "USD"
    # The same currency again changes nothing and is no error.
    assert customer_currency_set(customer=buyer, currency="USD", actor=billing_staff_user).currency == "USD"


def test_a_balance_entry_fixes_the_currency_for_staff_too(buyer, billing_staff_user):
    customer_currency_set(customer=buyer, currency="USD", actor=billing_staff_user)
    entry = balance_adjust(customer=buyer, amount=500, reason="goodwill", actor=billing_staff_user)

    assert entry.currency == "USD"
    error = code_of(lambda: customer_currency_set(customer=buyer, currency="EUR", actor=billing_staff_user))
    assert error == ("currency_locked", 409)


@pytest.mark.parametrize("currency", ["usd", "", "XYZ", "USD\n", None])
def test_staff_cannot_set_an_unknown_currency(buyer, billing_staff_user, currency):
    error = code_of(lambda: customer_currency_set(customer=buyer, currency=currency, actor=billing_staff_user))
    assert error == ("unsupported_currency", 400)


def test_support_and_customers_cannot_set_a_currency(buyer, support_user):
    assert code_of(lambda: customer_currency_set(customer=buyer, currency="USD", actor=support_user))[1] == 403
    assert code_of(lambda: customer_currency_set(customer=buyer, currency="USD", actor=buyer.user))[1] == 403
    buyer.refresh_from_db()
    assert buyer.currency == "KRW"


def test_invoices_of_a_fixed_customer_stay_in_its_currency(buyer, priced):
    subscribe(buyer, priced["pro"], currency="USD")
    assert set(Invoice.objects.filter(customer=buyer).values_list("currency", flat=True)) == {"USD"}


def test_a_foreign_attempt_abandoned_then_a_krw_subscription_is_taxable(buyer, priced):
    # A first attempt in dollars (its card then declined: nothing billed, the currency not fixed) zero-rated the
    # customer by default ...
    with transaction.atomic():
        customer_currency_choose(customer=Customer.objects.select_for_update().get(pk=buyer.pk), currency="USD")
    buyer.refresh_from_db()
    assert (buyer.currency, buyer.tax_treatment, customer_currency_fixed(customer=buyer)) == (
        "USD",
        TaxTreatment.ZERO_RATED,
        False,
    )

    # ... a subscription in won makes them domestic again: 10 % VAT, never a 0 % kept by switching currencies.
    started = subscribe(buyer, priced["basic"], currency="KRW")

    buyer.refresh_from_db()
    assert (buyer.currency, buyer.tax_treatment) == ("KRW", TaxTreatment.TAXABLE)
    assert (started.invoice.tax_treatment, started.invoice.tax, started.invoice.total) == ("taxable", 2_900, 31_900)


def test_a_foreign_attempt_then_staff_setting_krw_is_taxable(buyer, priced, billing_staff_user):
    # The same declined dollar attempt, then staff (not a subscribe) put the customer back in won: the subscribe
    # after it finds the currency already KRW, so the undo must happen when staff set it.
    with transaction.atomic():
        customer_currency_choose(customer=Customer.objects.select_for_update().get(pk=buyer.pk), currency="USD")
    customer_currency_set(customer=buyer, currency="KRW", actor=billing_staff_user)
    buyer.refresh_from_db()
    assert (buyer.currency, buyer.tax_treatment) == ("KRW", TaxTreatment.TAXABLE)

    started = subscribe(buyer, priced["basic"])

    assert (started.invoice.tax_treatment, started.invoice.tax, started.invoice.total) == ("taxable", 2_900, 31_900)


def test_a_zero_rating_staff_chose_for_a_krw_customer_stays(buyer, priced, billing_staff_user):
    customer_tax_treatment_set(customer=buyer, tax_treatment=TaxTreatment.ZERO_RATED, actor=billing_staff_user)

    started = subscribe(buyer, priced["basic"])

    buyer.refresh_from_db()
    assert (buyer.tax_treatment, started.invoice.tax) == (TaxTreatment.ZERO_RATED, 0)
