"""Issue 17 review: an amount coupon in another currency is 409 `currency_mismatch` on every path; a card subscribe
whose Stripe price was prepared in a currency, or at a VAT rate, the customer no longer has prepares again; the
upcoming invoice of a usage-only plan with nothing used says the renewal issues none; and a credit note after a plan
change is refused only for the invoice that change credited."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import stripe

from billing.enums import CouponDuration, CreditSettlement, InvoiceLineKind, TaxTreatment
from billing.models import Customer, Invoice, SubscribeAttempt, SubscribeAttemptStatus
from billing.models.coupons import CouponRedemption
from billing.models.subscriptions import Subscription
from billing.providers import StripeProvider
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.credit_notes import credit_note_issue
from billing.services.customers import customer_currency_set, customer_tax_treatment_set
from billing.services.subscriptions import (
    subscription_change_plan,
    subscription_checkout,
    subscription_create,
    subscription_renew,
    subscription_upcoming,
)
from billing.tests.factories import (
    BillableMetricFactory,
    CustomerFactory,
    PlanChargeFactory,
    SubscriptionPlanFactory,
    UsageRollupFactory,
)
from billing.tests.helpers import seoul
from billing.tests.stripe_support import card, stripe_api, stripe_on, stripe_plans, stripe_server
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

__all__ = ["card", "stripe_api", "stripe_on", "stripe_plans", "stripe_server"]  # fixtures used here

pytestmark = pytest.mark.django_db

JAN_31, FEB_10, FEB_28 = date(2025, 1, 31), date(2025, 2, 10), date(2025, 2, 28)
MAR_10, MAR_31, APR_10 = date(2025, 3, 10), date(2025, 3, 31), date(2025, 4, 10)


def refused(call: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value


# --- 1. an amount coupon in another currency --------------------------------------------------------------


def won_coupon(code: str = "WON") -> Any:
    coupon = coupon_create(actor=None, name=code, duration=CouponDuration.ONCE, amount_off=5_000, currency="KRW")
    promotion_code_create(actor=None, coupon=coupon, code=code)
    return coupon


def test_a_checkout_with_an_amount_coupon_in_another_currency_is_409(plans):
    won_coupon()
    customer = CustomerFactory.create()
    customer_currency_set(customer=customer, currency="USD", actor=None)

    error = refused(
        lambda: subscription_checkout(customer=customer, plan=plans["pro"], billing_period="monthly", coupon="WON")
    )

    assert (error.code, error.status_code, error.fields) == ("currency_mismatch", 409, {"coupon": [error.message]})
    assert error.message == "The coupon WON is an amount in KRW; this plan is billed in USD."
    assert not Invoice.objects.filter(customer=customer).exists()
    assert not CouponRedemption.objects.exists()


def test_a_plan_change_with_an_amount_coupon_in_another_currency_is_409(plans):
    customer = CustomerFactory.create()
    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_31), currency="USD"
    )
    pay(started.invoice)
    won_coupon()

    error = refused(
        lambda: subscription_create(
            customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(FEB_10), coupon="WON"
        )
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
    assert Subscription.objects.get(customer=customer).plan.slug == "starter"  # nothing changed
    assert not CouponRedemption.objects.exists()


# --- 2. a card subscribe prepared in a currency the customer no longer has --------------------------------


def test_a_card_subscribe_prepared_in_another_currency_than_its_quote_prepares_again(
    stripe_plans: Any, customer: Customer, card: Any, stripe_api: dict[str, Any], monkeypatch: Any
) -> None:
    real = StripeProvider.subscription_prepare
    prepared: list[str] = []

    def staff_choose_dollars_meanwhile(self: Any, **kwargs: Any) -> Any:
        setup = real(self, **kwargs)
        prepared.append(setup.currency)
        if len(prepared) == 1:  # before any lock of the subscribe: its currency is not fixed yet
            customer_currency_set(customer=customer, currency="USD", actor=None)
        return setup

    monkeypatch.setattr(StripeProvider, "subscription_prepare", staff_choose_dollars_meanwhile)

    started = subscription_create(
        customer=customer, plan=stripe_plans["pro"], billing_period="monthly", payment_method_id=card()
    )

    # The won price prepared first is stale: prepared again in dollars, before an attempt was written or charged
    # (without this, Stripe's won invoice differs from the dollar quote: 502 stripe_amount_mismatch, refunded).
    assert prepared == ["KRW", "USD"]
    invoice = started.invoice
    assert invoice is not None
    assert (started.subscription.currency, invoice.currency, invoice.total) == ("USD", "USD", 8_690)
    attempt = SubscribeAttempt.objects.get()
    assert (attempt.status, attempt.currency, attempt.setup["currency"]) == (
        SubscribeAttemptStatus.COMPLETED,
        "USD",
        "USD",
    )
    theirs = stripe.Subscription.retrieve(started.subscription.stripe_subscription_id, **stripe_api)
    assert isinstance(theirs.latest_invoice, str)
    stripe_invoice = stripe.Invoice.retrieve(theirs.latest_invoice, **stripe_api)
    assert (stripe_invoice.currency, stripe_invoice.total, stripe_invoice.status) == ("usd", 8_690, "paid")


def test_a_card_subscribe_prepared_at_another_vat_rate_than_its_quote_prepares_again(
    stripe_plans: Any, customer: Customer, card: Any, stripe_api: dict[str, Any], monkeypatch: Any
) -> None:
    real = StripeProvider.subscription_prepare
    prepared: list[int | None] = []

    def staff_zero_rate_meanwhile(self: Any, **kwargs: Any) -> Any:
        setup = real(self, **kwargs)
        prepared.append(setup.vat_rate_basis_points)
        if len(prepared) == 1:  # before any lock of the subscribe
            customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.ZERO_RATED, actor=None)
        return setup

    monkeypatch.setattr(StripeProvider, "subscription_prepare", staff_zero_rate_meanwhile)

    started = subscription_create(
        customer=customer, plan=stripe_plans["pro"], billing_period="monthly", payment_method_id=card()
    )

    # The 10 % TaxRate prepared first is stale: prepared again at 0 %, before an attempt was written or charged
    # (without this, Stripe taxes its invoice at 10 % and ours is 0 %: 502 stripe_amount_mismatch, refunded).
    assert prepared == [1_000, 0]
    invoice = started.invoice
    assert invoice is not None
    assert (invoice.tax_treatment, invoice.vat_rate_basis_points, invoice.tax, invoice.total) == (
        "zero_rated",
        0,
        0,
        99_000,
    )
    attempt = SubscribeAttempt.objects.get()
    assert (attempt.status, attempt.setup["vat_rate_basis_points"]) == (SubscribeAttemptStatus.COMPLETED, 0)
    theirs = stripe.Subscription.retrieve(started.subscription.stripe_subscription_id, **stripe_api)
    (tax_rate,) = theirs["items"].data[0].tax_rates
    assert Decimal(str(tax_rate.percentage)) == 0  # Stripe's renewals are taxed at 0 % too
    assert isinstance(theirs.latest_invoice, str)
    stripe_invoice = stripe.Invoice.retrieve(theirs.latest_invoice, **stripe_api)
    assert (stripe_invoice["tax"], stripe_invoice.total, stripe_invoice.status) == (0, 99_000, "paid")


# --- 3. the upcoming invoice of a usage-only plan -----------------------------------------------------------


@pytest.fixture
def api_calls() -> Any:
    return BillableMetricFactory(code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls")


@pytest.fixture
def pro() -> Any:
    return SubscriptionPlanFactory(slug="pro", monthly_price=99_000, annual_price=990_000)


@pytest.fixture
def payg(api_calls: Any) -> Any:
    """Pay as you go: the plan costs nothing, each API call ₩3."""
    plan = SubscriptionPlanFactory(slug="payg", monthly_price=0, annual_price=0)
    PlanChargeFactory(plan=plan, metric=api_calls, included_quantity=0, unit_amount=3)
    return plan


def used(customer: Customer, metric: Any, day: date, count: int) -> None:
    UsageRollupFactory(customer=customer, metric=metric, hour=seoul(day, 10), event_count=count, value_max=1)


def test_the_upcoming_invoice_of_a_usage_only_plan_with_nothing_used_is_no_invoice(customer, payg):
    started = subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))

    upcoming = subscription_upcoming(subscription=started.subscription, now=seoul(FEB_10))

    assert (upcoming.issued, upcoming.lines, upcoming.date, upcoming.currency) == (False, [], FEB_28, "KRW")
    assert (upcoming.subtotal, upcoming.tax, upcoming.total, upcoming.proration) == (0, 0, 0, False)
    invoices = Invoice.objects.count()
    outcome = subscription_renew(subscription=started.subscription, as_of=FEB_28, now=seoul(FEB_28))
    assert (outcome.invoices, Invoice.objects.count()) == ([], invoices)  # the renewal indeed issues none


def test_the_upcoming_invoice_of_a_usage_only_plan_with_usage_is_its_renewal_invoice(customer, payg, api_calls):
    started = subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))
    used(customer, api_calls, date(2025, 2, 3), 1_000)

    upcoming = subscription_upcoming(subscription=started.subscription, now=seoul(FEB_10))

    assert upcoming.issued is True
    assert [line.amount for line in upcoming.lines] == [0, 3_000]
    assert (upcoming.subtotal, upcoming.tax, upcoming.total) == (3_000, 300, 3_300)


def test_a_free_plan_without_charges_still_previews_its_zero_invoice(customer):
    free = SubscriptionPlanFactory(slug="free-of-charge", monthly_price=0, annual_price=0)
    started = subscription_create(customer=customer, plan=free, billing_period="monthly", now=seoul(JAN_31))

    upcoming = subscription_upcoming(subscription=started.subscription, now=seoul(FEB_10))

    assert (upcoming.issued, [line.amount for line in upcoming.lines], upcoming.total) == (True, [0], 0)


def test_a_usage_only_plan_changing_to_a_paid_plan_at_the_period_end_previews_that_invoice(customer, payg, pro):
    started = subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))
    subscription_create(customer=customer, plan=pro, billing_period="monthly", now=seoul(FEB_10), when="period_end")

    upcoming = subscription_upcoming(subscription=started.subscription, now=seoul(FEB_10))

    assert (upcoming.issued, [line.amount for line in upcoming.lines], upcoming.total) == (True, [99_000], 108_900)


# --- 4. a credit note after a plan change from a usage-only plan --------------------------------------------


def test_a_paid_period_before_a_skipped_usage_only_renewal_is_creditable_after_a_plan_change(customer, payg, pro):
    """Pro, then usage-only from its period end: that renewal, with nothing used, issues no invoice, so the pro
    invoice stays the subscription's latest period invoice. The plan change later credits the period it leaves,
    which has none: the pro invoice was not credited by it (its period was used in full) and may be credited."""
    started = subscription_create(customer=customer, plan=pro, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))
    subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(FEB_10), when="period_end")
    assert subscription_renew(subscription=started.subscription, as_of=FEB_28, now=seoul(FEB_28)).invoices == []
    changed = subscription_change_plan(
        subscription=started.subscription, plan=pro, billing_period="monthly", now=seoul(MAR_10)
    )
    assert changed.credit == 0  # the period it left (February 28 to March 30) had no invoice: nothing credited

    note = credit_note_issue(
        invoice=started.invoice,
        reason="goodwill",
        actor=None,
        amount=11_000,
        bank_reference="BANK-1",
        now=seoul(MAR_10),
    )

    assert (note.total, note.refund_amount) == (11_000, 11_000)


def test_the_invoice_of_a_usage_only_period_is_creditable_after_a_plan_change(customer, payg, pro):
    """A usage-only subscription's own period invoice carrying debt (the used days of the unpaid plan it replaced):
    the next plan change credits nothing of it (priced 0), so a credit note of that debt is no second credit."""
    first = subscription_create(customer=customer, plan=pro, billing_period="monthly", now=seoul(JAN_31))
    usage_only = subscription_create(
        customer=customer, plan=payg, billing_period="monthly", now=seoul(FEB_10), when="now"
    )
    assert usage_only.carried > 0 and Invoice.objects.get(pk=first.invoice.pk).status == "void"
    pay(usage_only.invoice, now=seoul(FEB_10))
    changed = subscription_change_plan(
        subscription=usage_only.subscription, plan=pro, billing_period="monthly", now=seoul(date(2025, 2, 15))
    )
    assert changed.credit == 0

    note = credit_note_issue(
        invoice=usage_only.invoice,
        reason="goodwill",
        actor=None,
        amount=11_000,
        settlement=CreditSettlement.BALANCE,
        now=seoul(date(2025, 2, 15)),
    )

    assert note.balance_amount == 11_000
    assert [line.invoice_line.kind for line in note.lines.all()] == [InvoiceLineKind.ITEM]
