"""Coupons and promotion codes: staff create them, subscribe redeems a code, invoices get their discount lines."""

import logging
from datetime import date
from typing import Any

import pytest

from billing.enums import CouponDuration, InvoiceLineKind, JobKind, Language
from billing.models import Invoice, SubscribeAttempt
from billing.models.coupons import Coupon, CouponRedemption, PromotionCode
from billing.models.subscriptions import Subscription
from billing.services.coupons import (
    coupon_apply_to_customer,
    coupon_create,
    coupon_deactivate,
    coupon_provider_mirror,
    promotion_code_create,
    promotion_code_redeemable,
)
from billing.services.subscriptions import (
    subscription_change_plan,
    subscription_checkout,
    subscription_create,
    subscription_renew,
    subscription_upcoming,
)
from billing.tests.factories import CustomerFactory, StaffUserFactory
from billing.tests.helpers import run_concurrently, seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job

pytestmark = pytest.mark.django_db

JAN_31 = date(2025, 1, 31)


def make_coupon(code: str = "WELCOME", *, code_options: dict[str, Any] | None = None, **options: Any) -> Coupon:
    options.setdefault("name", "Welcome")
    options.setdefault("duration", CouponDuration.ONCE)
    if "amount_off" not in options:
        options.setdefault("percent_off", 20)
    coupon = coupon_create(actor=None, **options)
    promotion_code_create(actor=None, coupon=coupon, code=code, **(code_options or {}))
    return coupon


def subscribe(customer: Any, plan: Any, *, coupon: str = "", day: date = JAN_31, period: str = "monthly") -> Any:
    return subscription_create(customer=customer, plan=plan, billing_period=period, now=seoul(day), coupon=coupon)


def lines_of(invoice: Invoice) -> list[tuple[str, int]]:
    return [(line.kind, line.amount) for line in invoice.lines.order_by("position", "id")]


def renew_paid(subscription: Any, day: date) -> Invoice:
    (invoice,) = subscription_renew(subscription=subscription, as_of=day, now=seoul(day)).invoices
    pay(invoice, now=seoul(day))
    return invoice


# --- what the first invoice says ------------------------------------------------------------------------


def test_a_percent_coupon_discounts_the_supply_and_vat_is_on_what_is_left(customer, plans):
    coupon = make_coupon(percent_off=20)

    started = subscribe(customer, plans["pro"], coupon="welcome")

    invoice = started.invoice
    assert lines_of(invoice) == [(InvoiceLineKind.ITEM, 99_000), (InvoiceLineKind.DISCOUNT, -19_800)]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (79_200, 7_920, 87_120)
    assert invoice.lines.get(kind=InvoiceLineKind.DISCOUNT).description == "할인: Welcome"
    redemption = CouponRedemption.objects.get()
    assert (redemption.coupon, redemption.customer, redemption.subscription_id) == (
        coupon,
        customer,
        started.subscription.pk,
    )
    assert (redemption.invoices_discounted, redemption.promotion_code.code) == (1, "WELCOME")
    coupon.refresh_from_db()
    assert coupon.times_redeemed == PromotionCode.objects.get().times_redeemed == 1


def test_a_fixed_amount_coupon_takes_its_amount_off_in_the_customers_language(plans):
    english = CustomerFactory.create(preferred_language=Language.ENGLISH)
    make_coupon(amount_off=10_000, currency="krw", name="Ten thousand")

    invoice = subscribe(english, plans["pro"], coupon="WELCOME").invoice

    assert lines_of(invoice) == [(InvoiceLineKind.ITEM, 99_000), (InvoiceLineKind.DISCOUNT, -10_000)]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (89_000, 8_900, 97_900)
    assert invoice.lines.get(kind=InvoiceLineKind.DISCOUNT).description == "Discount: Ten thousand"


def test_a_discount_never_exceeds_the_charges(customer, plans):
    make_coupon(amount_off=500_000, currency="KRW")

    invoice = subscribe(customer, plans["pro"], coupon="WELCOME").invoice

    assert lines_of(invoice) == [(InvoiceLineKind.ITEM, 99_000), (InvoiceLineKind.DISCOUNT, -99_000)]
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.status) == (0, 0, 0, "paid")


def test_the_discount_comes_before_the_credit_balance(plans):
    rich = CustomerFactory.create(credit_balance=60_000)
    make_coupon(percent_off=50)

    invoice = subscribe(rich, plans["pro"], coupon="WELCOME").invoice

    assert lines_of(invoice) == [
        (InvoiceLineKind.ITEM, 99_000),
        (InvoiceLineKind.DISCOUNT, -49_500),
        (InvoiceLineKind.BALANCE, -49_500),
    ]
    rich.refresh_from_db()
    assert rich.credit_balance == 10_500


# --- durations over renewals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "months", "discounted"),
    [
        (CouponDuration.ONCE, None, [True, False, False, False]),
        # From 31 January for 2 months: ends on 31 March (exclusive), so January and February.
        (CouponDuration.REPEATING, 2, [True, True, False, False]),
        (CouponDuration.FOREVER, None, [True, True, True, True]),
    ],
)
def test_durations_over_renewals(customer, plans, duration, months, discounted):
    make_coupon(duration=duration, duration_in_months=months, percent_off=10)
    started = subscribe(customer, plans["pro"], coupon="WELCOME")
    pay(started.invoice, now=seoul(JAN_31))

    invoices = [started.invoice] + [
        renew_paid(started.subscription, day) for day in (date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30))
    ]

    assert [invoice.lines.filter(kind=InvoiceLineKind.DISCOUNT).exists() for invoice in invoices] == discounted
    assert [invoice.subtotal for invoice in invoices] == [89_100 if flag else 99_000 for flag in discounted]
    redemption = CouponRedemption.objects.get()
    assert redemption.invoices_discounted == sum(discounted)
    if months:
        assert redemption.ends_on == date(2025, 3, 31)


def test_the_upcoming_invoice_shows_the_discount_the_renewal_gives(customer, plans):
    make_coupon(duration=CouponDuration.FOREVER, percent_off=15)
    started = subscribe(customer, plans["pro"], coupon="WELCOME")
    pay(started.invoice, now=seoul(JAN_31))

    upcoming = subscription_upcoming(subscription=started.subscription, now=seoul(date(2025, 2, 10)))
    renewed = renew_paid(started.subscription, date(2025, 2, 28))

    assert [(line.description, line.amount) for line in upcoming.lines] == [
        (line.description, line.amount) for line in renewed.lines.order_by("position", "id")
    ]
    assert (upcoming.subtotal, upcoming.tax, upcoming.total) == (renewed.subtotal, renewed.tax, renewed.total)
    assert upcoming.subtotal == 84_150
    assert CouponRedemption.objects.get().invoices_discounted == 2  # the preview counted nothing


def test_a_coupon_follows_its_subscription_to_a_new_plan(customer, plans):
    make_coupon(duration=CouponDuration.FOREVER, percent_off=10)
    started = subscribe(customer, plans["pro"], coupon="WELCOME")
    pay(started.invoice, now=seoul(JAN_31))

    changed = subscription_change_plan(
        subscription=started.subscription, plan=plans["enterprise"], now=seoul(JAN_31, 11)
    )

    assert CouponRedemption.objects.get().subscription_id == changed.subscription.pk
    discount = changed.invoice.lines.get(kind=InvoiceLineKind.DISCOUNT)
    charge = changed.invoice.lines.filter(kind=InvoiceLineKind.ITEM, amount__gt=0).get()
    assert discount.amount == -(charge.amount // 10)


def test_a_coupon_on_a_trial_discounts_the_first_invoice_after_it(customer, plans):
    trial_plan = plans["pro"]
    trial_plan.trial_days = 14
    trial_plan.save()
    make_coupon(duration=CouponDuration.REPEATING, duration_in_months=1, percent_off=50)

    started = subscribe(customer, trial_plan, coupon="WELCOME")

    assert started.invoice is None
    redemption = CouponRedemption.objects.get()
    assert redemption.ends_on == date(2025, 3, 14)  # a month from the trial's end, 14 February
    (invoice,) = subscription_renew(
        subscription=started.subscription, as_of=date(2025, 2, 14), now=seoul(date(2025, 2, 14))
    ).invoices
    assert lines_of(invoice) == [(InvoiceLineKind.ITEM, 99_000), (InvoiceLineKind.DISCOUNT, -49_500)]


def test_checkout_with_a_coupon_discounts_its_invoice_and_its_order(customer, plans):
    make_coupon(percent_off=10)

    result = subscription_checkout(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_31), coupon="WELCOME"
    )

    invoice = result.invoice
    assert lines_of(invoice) == [(InvoiceLineKind.ITEM, 99_000), (InvoiceLineKind.DISCOUNT, -9_900)]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (89_100, 8_910, 98_010)
    assert (invoice.order.subtotal, invoice.order.total) == (89_100, 98_010)
    assert CouponRedemption.objects.get().subscription == result.subscription


# --- refusals ---------------------------------------------------------------------------------------------


def refused(customer: Any, plan: Any, code: str, **options: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        subscribe(customer, plan, coupon=code, **options)
    return caught.value


def test_an_unknown_code_is_refused_and_nothing_is_written(customer, plans):
    error = refused(customer, plans["pro"], "NOPE")

    assert (error.code, error.status_code, error.message) == ("invalid_coupon", 400, "There is no coupon 'NOPE'.")
    assert not customer.subscriptions.exists()
    assert not Invoice.objects.exists()


def test_a_code_used_up_is_refused(plans):
    make_coupon(code_options={"max_redemptions": 1})
    subscribe(CustomerFactory.create(), plans["pro"], coupon="WELCOME")

    error = refused(CustomerFactory.create(), plans["pro"], "WELCOME")

    assert (error.code, error.message) == ("invalid_coupon", "The coupon WELCOME has been used up.")


def test_a_coupon_used_up_under_another_code_is_refused(plans):
    coupon = make_coupon(max_redemptions=1)
    promotion_code_create(actor=None, coupon=coupon, code="OTHER")
    subscribe(CustomerFactory.create(), plans["pro"], coupon="WELCOME")

    assert refused(CustomerFactory.create(), plans["pro"], "OTHER").message == "The coupon OTHER has been used up."


def test_a_coupon_is_redeemed_once_per_customer(customer, plans, billing_staff_user):
    coupon = make_coupon()
    coupon_apply_to_customer(customer=customer, coupon=coupon, actor=billing_staff_user)

    error = refused(customer, plans["pro"], "WELCOME")

    assert (error.code, error.status_code) == ("coupon_already_redeemed", 409)
    with pytest.raises(ApplicationError) as again:
        coupon_apply_to_customer(customer=customer, coupon=coupon, actor=billing_staff_user)
    assert again.value.code == "coupon_already_redeemed"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"code_options": {"expires_at": seoul(JAN_31, 9)}}, "The coupon WELCOME expired on 2025-01-31."),
        ({"redeem_by": seoul(date(2025, 1, 30))}, "The coupon WELCOME could be redeemed until 2025-01-30 only."),
        ({"billing_periods": ["annual"]}, "The coupon WELCOME does not apply to monthly billing."),
    ],
)
def test_expired_or_restricted_coupons_are_refused(customer, plans, options, message):
    make_coupon(**options)

    error = refused(customer, plans["pro"], "WELCOME")

    assert (error.code, error.message, error.fields) == ("invalid_coupon", message, {"coupon": [message]})
    assert not CouponRedemption.objects.exists()


def test_an_amount_coupon_in_another_currency_is_a_currency_mismatch(customer, plans):
    make_coupon(amount_off=1_000, currency="USD")

    error = refused(customer, plans["pro"], "WELCOME")

    message = "The coupon WELCOME is an amount in USD; this plan is billed in KRW."
    assert (error.code, error.status_code, error.message, error.fields) == (
        "currency_mismatch",
        409,
        message,
        {"coupon": [message]},
    )
    assert not CouponRedemption.objects.exists()
    assert not customer.subscriptions.exists()


def test_a_coupon_for_other_plans_is_refused(customer, plans):
    make_coupon(plans=[plans["starter"]])

    assert refused(customer, plans["pro"], "WELCOME").message == "The coupon WELCOME does not apply to the pro plan."
    assert subscribe(customer, plans["starter"], coupon="welcome").invoice.lines.filter(kind="discount").exists()


def test_a_deactivated_coupon_is_refused_but_keeps_discounting_those_who_have_it(customer, plans):
    coupon = make_coupon(duration=CouponDuration.FOREVER)
    started = subscribe(customer, plans["pro"], coupon="WELCOME")
    pay(started.invoice, now=seoul(JAN_31))
    coupon_deactivate(coupon=coupon, actor=None)

    with pytest.raises(ApplicationError) as caught:
        promotion_code_redeemable(
            code="WELCOME", customer=CustomerFactory.create(), plan=plans["pro"], billing_period="monthly"
        )
    assert caught.value.message == "The coupon WELCOME is no longer active."
    assert renew_paid(started.subscription, date(2025, 2, 28)).lines.filter(kind="discount").exists()


# --- staff -----------------------------------------------------------------------------------------------


def test_a_coupon_given_by_staff_discounts_the_customers_subscription_invoices(customer, plans, billing_staff_user):
    coupon = coupon_create(
        actor=billing_staff_user, name="Goodwill", duration=CouponDuration.ONCE, amount_off=5_000, currency="KRW"
    )
    redemption = coupon_apply_to_customer(customer=customer, coupon=coupon, actor=billing_staff_user)

    invoice = subscribe(customer, plans["pro"]).invoice

    assert (redemption.subscription, redemption.created_by) == (None, billing_staff_user)
    assert lines_of(invoice) == [(InvoiceLineKind.ITEM, 99_000), (InvoiceLineKind.DISCOUNT, -5_000)]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"percent_off": 0}, "percent_off"),
        ({"percent_off": 101}, "percent_off"),
        ({"percent_off": 10, "amount_off": 100, "currency": "KRW"}, "percent_off"),
        ({"amount_off": 100}, "currency"),
        ({"amount_off": 0, "currency": "KRW"}, "amount_off"),
        ({"percent_off": 10, "duration": CouponDuration.REPEATING}, "duration_in_months"),
        ({"percent_off": 10, "duration": CouponDuration.REPEATING, "duration_in_months": 121}, "duration_in_months"),
        ({"percent_off": 10, "duration_in_months": 3}, "duration_in_months"),
        ({"percent_off": 10, "max_redemptions": 0}, "max_redemptions"),
        ({"percent_off": 10, "name": ""}, "name"),
    ],
)
def test_coupon_create_refuses_what_cannot_be(options, field):
    options = {"name": "X", "duration": CouponDuration.ONCE, **options}

    with pytest.raises(ApplicationError) as caught:
        coupon_create(actor=None, **options)

    assert (caught.value.code, list(caught.value.fields)) == ("validation_error", [field])
    assert not Coupon.objects.exists()


def test_codes_are_upper_cased_checked_and_unique():
    coupon = coupon_create(actor=None, name="X", duration=CouponDuration.FOREVER, percent_off=5)

    assert promotion_code_create(actor=None, coupon=coupon, code=" spring-25 ").code == "SPRING-25"
    for bad in ("AB", "HAS SPACE", "한글", "X" * 41):
        with pytest.raises(ApplicationError) as caught:
            promotion_code_create(actor=None, coupon=coupon, code=bad)
        assert caught.value.code == "validation_error"
    with pytest.raises(ApplicationError) as taken:
        promotion_code_create(actor=None, coupon=coupon, code="Spring-25")
    assert (taken.value.code, taken.value.status_code) == ("code_taken", 409)


def test_support_staff_cannot_create_or_give_coupons(customer):
    support = StaffUserFactory.create(group="support")
    coupon = coupon_create(actor=None, name="X", duration=CouponDuration.FOREVER, percent_off=5)

    for attempt in (
        lambda: coupon_create(actor=support, name="Y", duration=CouponDuration.ONCE, percent_off=5),
        lambda: promotion_code_create(actor=support, coupon=coupon, code="NOPE"),
        lambda: coupon_apply_to_customer(customer=customer, coupon=coupon, actor=support),
        lambda: coupon_deactivate(coupon=coupon, actor=support),
    ):
        with pytest.raises(ApplicationError) as caught:
            attempt()
        assert caught.value.code == "permission_denied"


# --- the provider's copy ---------------------------------------------------------------------------------


def test_a_created_coupon_queues_its_mirror_job_and_the_manual_provider_mirrors_nothing():
    coupon = coupon_create(actor=None, name="X", duration=CouponDuration.FOREVER, percent_off=5)

    job = Job.objects.get(kind=JobKind.COUPON_MIRROR)
    assert (job.key, job.payload) == (f"coupon_mirror:{coupon.pk}", {"coupon_id": coupon.pk})
    assert coupon_provider_mirror(coupon_id=coupon.pk) == "mirrored as -"


def test_with_stripe_on_the_coupon_becomes_a_stripe_coupon(settings, monkeypatch):
    """A recorded call: localstripe's coupons refuse `name`, `max_redemptions` and `redeem_by`, which Stripe has."""
    import stripe

    settings.STRIPE_ENABLED = True
    calls: list[dict[str, Any]] = []

    def create(**params: Any) -> Any:
        calls.append(params)
        return stripe.Coupon.construct_from({"id": params["id"]}, "sk_test")

    monkeypatch.setattr("billing.providers.stripe.coupons.stripe_retrieve", lambda resource, stripe_id: None)
    monkeypatch.setattr(stripe.Coupon, "create", create)
    coupon = coupon_create(
        actor=None,
        name="Spring",
        duration=CouponDuration.REPEATING,
        duration_in_months=3,
        amount_off=5_000,
        currency="KRW",
        max_redemptions=50,
        redeem_by=seoul(date(2025, 3, 1)),
    )

    assert coupon_provider_mirror(coupon_id=coupon.pk) == f"mirrored as billing-coupon-{coupon.pk}"

    (call,) = calls
    assert {name: value for name, value in call.items() if name not in ("api_key", "stripe_version")} == {
        "id": f"billing-coupon-{coupon.pk}",
        "name": "Spring",
        "amount_off": 5_000,
        "currency": "krw",
        "duration": "repeating",
        "duration_in_months": 3,
        "max_redemptions": 50,
        "redeem_by": int(seoul(date(2025, 3, 1)).timestamp()),
        "metadata": {"billing_coupon_id": str(coupon.pk)},
        "idempotency_key": call["idempotency_key"],
    }
    assert call["idempotency_key"].startswith(f"billing-coupon-{coupon.pk}-create")
    coupon.refresh_from_db()
    assert coupon.stripe_coupon_id == f"billing-coupon-{coupon.pk}"


# --- races ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_never_pass_max_redemptions(postgresql, plans):
    coupon = make_coupon(code_options={"max_redemptions": 2})
    customers = [CustomerFactory.create(user__username=f"racer{index}") for index in range(5)]

    def race(index: int) -> str:
        try:
            subscribe(customers[index], plans["pro"], coupon="WELCOME")
        except ApplicationError as error:
            return error.code
        return "redeemed"

    results = run_concurrently(race, len(customers))

    assert sorted(results) == ["invalid_coupon"] * 3 + ["redeemed"] * 2, results
    assert CouponRedemption.objects.count() == 2
    assert PromotionCode.objects.get().times_redeemed == 2
    coupon.refresh_from_db()
    assert coupon.times_redeemed == 2
    assert Invoice.objects.filter(lines__kind=InvoiceLineKind.DISCOUNT).count() == 2
    assert Invoice.objects.count() == 2  # the refused ones wrote nothing


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_of_one_customer_redeem_once(postgresql, plans):
    coupon = make_coupon(duration=CouponDuration.FOREVER)
    staff = StaffUserFactory.create(group="billing staff")
    customer = CustomerFactory.create(user__username="twice")

    def race(index: int) -> str:
        try:
            coupon_apply_to_customer(customer=customer, coupon=coupon, actor=staff, now=seoul(JAN_31))
        except ApplicationError as error:
            return error.code
        return "redeemed"

    assert sorted(run_concurrently(race, 3)) == ["coupon_already_redeemed"] * 2 + ["redeemed"]
    coupon.refresh_from_db()
    assert coupon.times_redeemed == 1


def test_the_renewal_email_announces_the_discounted_amount(customer, plans):
    from billing.services.subscription_emails import renewal_charge

    make_coupon(duration=CouponDuration.REPEATING, duration_in_months=1, percent_off=10)
    started = subscribe(customer, plans["pro"], coupon="WELCOME")
    pay(started.invoice, now=seoul(JAN_31))
    forever = make_coupon("FOREVER", duration=CouponDuration.FOREVER, amount_off=1_000, currency="KRW")
    coupon_apply_to_customer(customer=customer, coupon=forever, actor=None)

    charge = renewal_charge(subscription=started.subscription, customer=customer)

    # On 28 February the repeating month is over (it ends on that day); the staff's forever coupon still applies.
    assert (charge.supply_amount, charge.vat, charge.total) == (98_000, 9_800, 107_800)
    assert renew_paid(started.subscription, date(2025, 2, 28)).subtotal == 98_000


# --- subscriptions Stripe collects by card --------------------------------------------------------------


def stripe_collects(subscription: Any, reference: str = "sub_coupon_card") -> None:
    """As a card subscribe leaves it: Stripe renews it from its own price, which our coupons do not discount."""
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id=reference)
    subscription.refresh_from_db()


@pytest.mark.parametrize(
    ("duration", "months", "by_staff", "first_discounted"),
    [
        (CouponDuration.FOREVER, None, False, 1),
        (CouponDuration.REPEATING, 3, False, 1),
        (CouponDuration.FOREVER, None, True, 0),
        (CouponDuration.ONCE, None, True, 0),  # given before the card: it waits for a first invoice, unspent
    ],
)
def test_a_renewal_stripe_collects_is_never_discounted(
    customer, plans, caplog, duration, months, by_staff, first_discounted
):
    """Redemptions made before the rule (or brought by a plan change): Stripe charges its price at renewal, so our
    invoice asks that too, and the renewal email says so."""
    from billing.services.subscription_emails import renewal_charge

    coupon = make_coupon(duration=duration, duration_in_months=months, percent_off=10)
    started = subscribe(customer, plans["pro"], coupon="" if by_staff else "WELCOME")
    pay(started.invoice, now=seoul(JAN_31))
    if by_staff:
        coupon_apply_to_customer(customer=customer, coupon=coupon, actor=None, now=seoul(JAN_31, 12))
    stripe_collects(started.subscription)

    charge = renewal_charge(subscription=started.subscription, customer=customer)
    with caplog.at_level(logging.WARNING, logger="billing.services.coupons"):
        renewed = renew_paid(started.subscription, date(2025, 2, 28))

    assert lines_of(renewed) == [(InvoiceLineKind.ITEM, 99_000)]
    assert renewed.subtotal == charge.supply_amount == 99_000
    assert CouponRedemption.objects.get().invoices_discounted == first_discounted
    skipped = [record for record in caplog.records if "collected by Stripe" in record.getMessage()]
    assert len(skipped) == 1, [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    ("plan", "when", "duration"),
    [
        ("starter", "period_end", CouponDuration.ONCE),  # a change on the Stripe subscription: its next invoice renews
        ("starter", "period_end", CouponDuration.FOREVER),
        ("enterprise", "now", CouponDuration.FOREVER),  # a new subscription the card on file pays
        ("enterprise", "now", CouponDuration.REPEATING),
    ],
)
def test_a_coupon_stripe_would_not_honour_is_refused_with_nothing_written(customer, plans, plan, when, duration):
    make_coupon(duration=duration, duration_in_months=2 if duration == CouponDuration.REPEATING else None)
    started = subscribe(customer, plans["pro"])
    pay(started.invoice, now=seoul(JAN_31))
    stripe_collects(started.subscription)

    with pytest.raises(ApplicationError) as caught:
        subscription_create(
            customer=customer,
            plan=plans[plan],
            billing_period="monthly",
            now=seoul(JAN_31, 11),
            when=when,
            coupon="WELCOME",
        )

    assert (caught.value.code, caught.value.status_code) == ("invalid_coupon", 400)
    assert caught.value.message == (
        "The coupon WELCOME applies to renewals, which card payments through Stripe do not discount yet; pay by "
        "bank transfer or use a one-time coupon."
    )
    started.subscription.refresh_from_db()
    assert (started.subscription.status, started.subscription.pending_plan_id) == ("active", None)
    assert customer.subscriptions.count() == 1
    assert not SubscribeAttempt.objects.exists()
    assert not CouponRedemption.objects.exists()
    assert PromotionCode.objects.get().times_redeemed == 0


def test_staff_cannot_give_a_renewal_coupon_to_a_customer_stripe_collects(customer, plans, billing_staff_user):
    stripe_collects(subscribe(customer, plans["pro"]).subscription)
    forever = coupon_create(actor=None, name="Loyal", duration=CouponDuration.FOREVER, percent_off=10)
    once = coupon_create(actor=None, name="Sorry", duration=CouponDuration.ONCE, amount_off=5_000, currency="KRW")

    with pytest.raises(ApplicationError) as caught:
        coupon_apply_to_customer(customer=customer, coupon=forever, actor=billing_staff_user)

    assert (caught.value.code, caught.value.status_code) == ("coupon_not_available", 409)
    assert "paid by card through Stripe" in caught.value.message
    forever.refresh_from_db()
    assert (forever.times_redeemed, CouponRedemption.objects.filter(coupon=forever).exists()) == (0, False)
    # A one-time coupon is not refused: it discounts a first invoice (a plan change), never a renewal Stripe charges.
    assert coupon_apply_to_customer(customer=customer, coupon=once, actor=billing_staff_user).subscription is None
