"""Free trials: the first subscription to a plan with trial days, one per customer and 사업자등록번호, the
conversion at trial end (the first invoice), canceling during the trial, starting again, the trial-ending email."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import transaction

from billing.enums import EmailKind, Language
from billing.models import Customer, Invoice, SubscribeAttempt
from billing.models.subscriptions import (
    Subscription,
    SubscriptionInvoice,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
    TrialClaim,
)
from billing.periods import billing_day_start
from billing.services.checkout import checkout_create
from billing.services.subscription_emails import renewal_notices_queue
from billing.services.subscriptions import subscription_cancel, subscription_create, subscription_renew
from billing.services.subscriptions.start import SubscribeRequest, subscribe_check, subscription_quote
from billing.tests.factories import CustomerFactory, SubscriptionPlanFactory
from billing.tests.helpers import balance_give, seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError
from billing_site.mail.models import Email, EmailStatus
from billing_site.mail.services import email_send

pytestmark = pytest.mark.django_db

START = date(2025, 3, 1)
TRIAL_END = date(2025, 3, 15)  # 14 days: 1 .. 14 March free, 15 March the first billed day
NOTICE_DAY = TRIAL_END - timedelta(days=3)


@pytest.fixture
def trial_plan(plans):
    """Pro (₩99,000 a month, VAT excluded) with a 14-day trial."""
    plan = plans["pro"]
    plan.trial_days = 14
    plan.save(update_fields=["trial_days"])
    return plan


def subscribe(customer, plan, day=START, **options):
    return subscription_create(customer=customer, plan=plan, billing_period="monthly", now=seoul(day), **options)


def renew(subscription, day):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


def fresh(subscription):
    return Subscription.objects.get(pk=subscription.pk)


def invoices_of(subscription):
    return list(Invoice.objects.filter(subscription_link__subscription=subscription).order_by("pk"))


# --- trial start --------------------------------------------------------------------------------------------------


def test_the_first_subscription_to_a_trial_plan_is_trialing_with_no_invoice(customer, trial_plan):
    started = subscribe(customer, trial_plan)

    subscription = fresh(started.subscription)
    assert started.invoice is None and started.replaced is None
    assert subscription.status == SubscriptionStatus.TRIALING
    assert (subscription.trial_start, subscription.trial_end) == (START, TRIAL_END)
    assert (subscription.current_period_start, subscription.current_period_end) == (START, TRIAL_END)
    assert (subscription.billing_cycle_anchor, subscription.next_billing_date) == (START, TRIAL_END)
    assert subscription.price_amount == 99_000
    assert Invoice.objects.count() == 0 and SubscriptionInvoice.objects.count() == 0
    claim = TrialClaim.objects.get()
    assert (claim.customer_id, claim.business_registration_number, claim.subscription_id) == (
        customer.pk,
        "2208162517",
        subscription.pk,
    )


def test_a_plan_without_trial_days_bills_at_once(customer):
    started = subscribe(customer, SubscriptionPlanFactory.create(monthly_price=99_000, trial_days=0))

    assert started.subscription.status == SubscriptionStatus.ACTIVE and started.invoice is not None
    assert started.invoice.total == 108_900 and TrialClaim.objects.count() == 0


def test_a_trial_never_asks_the_payment_provider_even_with_a_card(customer, trial_plan, monkeypatch):
    class ChargesNothing:
        name = "stub"

        def payment_method_check(self, *, payment_method_id):
            return None

        def subscription_prepare(self, **kwargs):
            raise AssertionError("a trial asked the provider to prepare a charge")

    monkeypatch.setattr("billing.services.subscriptions.subscribe.payment_provider", ChargesNothing)

    started = subscribe(customer, trial_plan, payment_method_id="pm_card_visa")

    assert started.subscription.status == SubscriptionStatus.TRIALING and started.invoice is None
    assert started.subscription.stripe_subscription_id == "" and SubscribeAttempt.objects.count() == 0


def test_a_quote_for_a_card_refuses_when_a_trial_applies_and_writes_nothing(customer, trial_plan):
    request = SubscribeRequest(
        customer_id=customer.pk,
        plan=trial_plan,
        billing_period="monthly",
        payment_method_id="pm_card_visa",
        moment=seoul(START),
    )
    with transaction.atomic():
        checked = subscribe_check(request)
        with pytest.raises(ApplicationError) as error:
            subscription_quote(checked, moment=request.moment)

    assert (error.value.code, error.value.status_code) == ("subscription_changed", 409)
    assert Subscription.objects.count() == 0 and TrialClaim.objects.count() == 0


def test_one_trial_per_customer(customer, trial_plan):
    first = subscribe(customer, trial_plan)
    subscription_cancel(subscription=first.subscription, immediately=True, now=seoul(START + timedelta(days=2)))

    again = subscribe(customer, trial_plan, day=START + timedelta(days=3))

    assert again.subscription.status == SubscriptionStatus.ACTIVE and again.subscription.trial_end is None
    assert again.invoice is not None and again.invoice.total == 108_900
    assert TrialClaim.objects.count() == 1


def test_one_trial_per_business_registration_number(customer, trial_plan):
    other_login = CustomerFactory.create(business=True)  # the same 사업자등록번호 under another login
    assert other_login.business_registration_number == customer.business_registration_number
    subscribe(customer, trial_plan)

    started = subscribe(other_login, trial_plan)

    assert started.subscription.status == SubscriptionStatus.ACTIVE and started.invoice is not None
    assert list(TrialClaim.objects.values_list("customer_id", flat=True)) == [customer.pk]


def test_a_number_set_after_the_trial_counts_as_claimed_for_another_login(customer, trial_plan):
    # The trial was claimed with no 사업자등록번호; the customer enters it later. Another login of that business
    # must not get a second trial (the claim row still holds "": the customer's current number counts too).
    earlier = CustomerFactory.create()
    assert earlier.business_registration_number == ""
    assert subscribe(earlier, trial_plan).subscription.status == SubscriptionStatus.TRIALING
    Customer.objects.filter(pk=earlier.pk).update(business_registration_number=customer.business_registration_number)

    started = subscribe(customer, trial_plan)

    assert started.subscription.status == SubscriptionStatus.ACTIVE and started.invoice is not None
    assert started.subscription.trial_end is None and started.invoice.total == 108_900
    assert list(TrialClaim.objects.values_list("customer_id", flat=True)) == [earlier.pk]


def test_customers_without_a_business_registration_number_each_get_a_trial(trial_plan):
    first, second = CustomerFactory.create(), CustomerFactory.create()
    assert first.business_registration_number == second.business_registration_number == ""

    assert subscribe(first, trial_plan).subscription.status == SubscriptionStatus.TRIALING
    assert subscribe(second, trial_plan).subscription.status == SubscriptionStatus.TRIALING
    assert TrialClaim.objects.count() == 2


def test_a_claim_refused_by_the_database_means_no_trial_and_the_usual_invoice(customer, trial_plan, monkeypatch):
    # Another login with the same 사업자등록번호 claimed its trial after this subscribe read the claims (a race):
    # the unique index refuses the second claim and the subscription starts paid, in the same transaction.
    other_login = CustomerFactory.create(business=True)
    subscribe(other_login, trial_plan)
    monkeypatch.setattr(
        "billing.services.subscriptions.start.trial_days_for", lambda **kwargs: kwargs["plan"].trial_days
    )

    started = subscribe(customer, trial_plan)

    assert started.subscription.status == SubscriptionStatus.ACTIVE and started.invoice is not None
    assert started.invoice.total == 108_900
    assert Subscription.objects.filter(customer=customer).count() == 1
    assert list(TrialClaim.objects.values_list("customer_id", flat=True)) == [other_login.pk]


def test_a_plan_change_is_never_a_trial(customer, trial_plan):
    basic = subscribe(customer, SubscriptionPlanFactory.create(monthly_price=29_000, trial_days=0))
    pay(basic.invoice, now=seoul(START))

    changed = subscribe(customer, trial_plan, day=START + timedelta(days=1))

    assert changed.replaced is not None and changed.subscription.status == SubscriptionStatus.ACTIVE
    assert changed.invoice is not None and TrialClaim.objects.count() == 0


# --- conversion at trial end ---------------------------------------------------------------------------------------


def test_the_trial_converts_on_trial_end_with_the_first_invoice(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription
    assert renew(trial, TRIAL_END - timedelta(days=1)).actions == ("nothing_due",)

    outcome = renew(trial, TRIAL_END)

    (invoice,) = outcome.invoices
    assert outcome.actions == ("trial_converted",)
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.issue_date) == (99_000, 9_900, 108_900, TRIAL_END)
    line = invoice.lines.get()
    assert (line.amount, line.period_start, line.period_end) == (99_000, TRIAL_END, date(2025, 4, 14))
    subscription = fresh(trial)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.billing_cycle_anchor == TRIAL_END
    assert (subscription.current_period_start, subscription.current_period_end) == (TRIAL_END, date(2025, 4, 15))
    assert (subscription.trial_start, subscription.trial_end) == (START, TRIAL_END)  # the history stays
    assert [(link.reason, link.period_start) for link in subscription.period_invoices.all()] == [
        (SubscriptionInvoiceReason.CREATE, TRIAL_END)
    ]
    assert renew(trial, TRIAL_END).actions == ("nothing_due",)
    assert len(invoices_of(trial)) == 1


def test_the_first_invoice_uses_the_credit_balance(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription
    balance_give(customer, 10_000)

    (invoice,) = renew(trial, TRIAL_END).invoices

    assert (invoice.subtotal, invoice.tax, invoice.total) == (89_000, 8_900, 97_900)
    assert Customer.objects.get(pk=customer.pk).credit_balance == 0


def test_a_late_run_converts_then_renews_every_period_due(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription

    outcome = renew(trial, date(2025, 4, 16))

    assert outcome.actions[:2] == ("trial_converted", "renewed")
    assert [(link.reason, link.period_start, link.period_end) for link in fresh(trial).period_invoices.all()] == [
        (SubscriptionInvoiceReason.CREATE, TRIAL_END, date(2025, 4, 15)),
        (SubscriptionInvoiceReason.CYCLE, date(2025, 4, 15), date(2025, 5, 15)),
    ]


def test_the_first_invoice_bills_every_seat(customer):
    plan = SubscriptionPlanFactory.create(monthly_price=10_000, per_seat=True, trial_days=7)
    trial = subscribe(customer, plan).subscription
    Subscription.objects.filter(pk=trial.pk).update(quantity=3, price_amount=30_000)

    (invoice,) = renew(trial, START + timedelta(days=7)).invoices

    assert (invoice.subtotal, invoice.tax, invoice.total) == (30_000, 3_000, 33_000)


def test_paying_the_first_invoice_keeps_it_active_and_the_next_period_renews(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription
    (first,) = renew(trial, TRIAL_END).invoices
    pay(first, now=seoul(TRIAL_END))

    (second,) = renew(trial, date(2025, 4, 15)).invoices

    assert second.total == 108_900 and fresh(trial).status == SubscriptionStatus.ACTIVE


# --- cancel during the trial -----------------------------------------------------------------------------------------


def test_canceling_the_trial_now_ends_it_and_bills_nothing_ever(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription

    canceled = subscription_cancel(subscription=trial, immediately=True, now=seoul(date(2025, 3, 5)))

    assert canceled.status == SubscriptionStatus.CANCELED and canceled.ended_at == seoul(date(2025, 3, 5))
    assert renew(trial, TRIAL_END).invoices == []
    assert renew(trial, date(2025, 6, 1)).invoices == []
    assert Invoice.objects.count() == 0


def test_canceling_the_trial_at_period_end_ends_it_on_trial_end_without_an_invoice(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription

    set_to_cancel = subscription_cancel(subscription=trial, now=seoul(date(2025, 3, 5)))

    assert set_to_cancel.status == SubscriptionStatus.TRIALING and set_to_cancel.cancel_at_period_end
    assert set_to_cancel.next_billing_date is None
    assert renew(trial, TRIAL_END - timedelta(days=1)).actions == ("nothing_due",)
    outcome = renew(trial, TRIAL_END)
    assert (outcome.actions, outcome.invoices) == (("ended",), [])
    subscription = fresh(trial)
    assert subscription.status == SubscriptionStatus.CANCELED
    assert subscription.ended_at == billing_day_start(TRIAL_END)
    assert Invoice.objects.count() == 0
    assert Email.objects.filter(kind=EmailKind.SUBSCRIPTION_ENDED).count() == 1


# --- after the end: a new subscription --------------------------------------------------------------------------------


def test_after_a_trial_ended_subscribing_again_starts_a_new_paid_subscription(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription
    subscription_cancel(subscription=trial, now=seoul(date(2025, 3, 5)))
    renew(trial, TRIAL_END)

    again = subscribe(customer, trial_plan, day=date(2025, 3, 20))

    assert again.subscription.pk != trial.pk and again.replaced is None
    assert again.subscription.status == SubscriptionStatus.ACTIVE and again.subscription.trial_end is None
    assert again.invoice is not None and again.invoice.total == 108_900
    assert fresh(trial).status == SubscriptionStatus.CANCELED


def test_after_a_trial_ended_checkout_starts_a_new_subscription_without_a_trial(customer, trial_plan):
    trial = subscribe(customer, trial_plan).subscription
    subscription_cancel(subscription=trial, immediately=True, now=seoul(date(2025, 3, 5)))

    result = checkout_create(customer=customer, plan=trial_plan, billing_period="monthly", now=seoul(date(2025, 3, 6)))

    assert result.subscription is not None and result.subscription.pk != trial.pk
    assert result.subscription.status == SubscriptionStatus.INCOMPLETE and result.subscription.trial_end is None
    assert result.invoice.total == 108_900 and TrialClaim.objects.count() == 1


def test_after_a_paid_subscription_ended_subscribing_again_starts_a_new_one(pro_from_jan_31, plans):
    subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 10)))

    again = subscribe(pro_from_jan_31.customer, plans["pro"], day=date(2025, 2, 11))

    assert again.subscription.pk != pro_from_jan_31.pk and again.replaced is None
    assert again.subscription.status == SubscriptionStatus.ACTIVE and again.invoice is not None


# --- the trial-ending email ----------------------------------------------------------------------------------------


def messages(subject_part: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if subject_part in message.subject]


def notices_run(capture, day: date) -> int:
    with capture(execute=True):
        return renewal_notices_queue(as_of=day)


def test_the_trial_ending_email_goes_three_days_before_with_the_first_invoice_amount(
    customer, trial_plan, mailoutbox, django_capture_on_commit_callbacks
):
    subscribe(customer, trial_plan)

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY - timedelta(days=1)) == 0
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 1

    (message,) = messages("무료 체험 종료 안내")
    assert message.subject == "[무료 체험 종료 안내] 프로 플랜 무료 체험이 2025년 3월 14일에 끝납니다 (₩108,900)"
    assert message.to == ["buyer@example.com"]
    text = message.body
    assert "첫 이용 기간: 2025년 3월 15일 ~ 2025년 4월 14일" in text
    assert "공급가액: ₩99,000" in text and "부가세: ₩9,900" in text
    assert "첫 청구 금액(부가세 포함): ₩108,900" in text and "첫 청구일: 2025년 3월 15일" in text
    assert "₩108,900" in str(message.alternatives[0][0])
    (email,) = Email.objects.filter(kind=EmailKind.TRIAL_ENDING)
    assert (email.occurrence, email.status) == ("2025-03-15", EmailStatus.SENT)


@pytest.mark.parametrize("pending", [False, True])
def test_the_trial_ending_email_quotes_the_seats_and_the_pending_change_the_first_invoice_bills(
    customer, pending, mailoutbox, django_capture_on_commit_callbacks
):
    plan = SubscriptionPlanFactory.create(monthly_price=10_000, per_seat=True, trial_days=14)
    trial = subscribe(customer, plan, quantity=3).subscription
    assert trial.status == SubscriptionStatus.TRIALING
    expected = (30_000, 3_000, 33_000)
    if pending:
        # A change waiting for the trial's end (the renewal applies it before the first invoice): 2 seats, annual.
        Subscription.objects.filter(pk=trial.pk).update(
            pending_plan=plan,
            pending_billing_period="annual",
            pending_quantity=2,
            pending_requested_at=seoul(START),
        )
        expected = (200_000, 20_000, 220_000)

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 1

    (message,) = messages("무료 체험 종료 안내")
    assert message.subject.endswith(f"(₩{expected[2]:,})")
    assert f"공급가액: ₩{expected[0]:,}" in message.body and f"부가세: ₩{expected[1]:,}" in message.body
    last_day = "2026년 3월 14일" if pending else "2025년 4월 14일"
    assert f"첫 이용 기간: 2025년 3월 15일 ~ {last_day}" in message.body
    (invoice,) = renew(trial, TRIAL_END).invoices
    assert (invoice.subtotal, invoice.tax, invoice.total) == expected
    converted = fresh(trial)
    assert (converted.quantity, converted.billing_period) == ((2, "annual") if pending else (3, "monthly"))


def test_the_trial_ending_email_is_sent_once_when_the_run_repeats(
    customer, trial_plan, mailoutbox, django_capture_on_commit_callbacks
):
    subscribe(customer, trial_plan)

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 1
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0
    assert notices_run(django_capture_on_commit_callbacks, TRIAL_END - timedelta(days=1)) == 0
    assert notices_run(django_capture_on_commit_callbacks, TRIAL_END) == 0

    assert len(messages("무료 체험 종료 안내")) == 1
    assert Email.objects.filter(kind=EmailKind.TRIAL_ENDING).count() == 1
    assert Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING).count() == 0


def test_the_trial_ending_email_in_english(customer, trial_plan, mailoutbox, django_capture_on_commit_callbacks):
    Customer.objects.filter(pk=customer.pk).update(preferred_language=Language.ENGLISH)
    subscribe(Customer.objects.get(pk=customer.pk), trial_plan)

    notices_run(django_capture_on_commit_callbacks, NOTICE_DAY)

    (message,) = messages("trial ends")
    assert message.subject == "Your Pro plan trial ends on 14 Mar 2025: then ₩108,900"
    assert "First period: 15 Mar 2025 to 14 Apr 2025" in message.body
    assert "First invoice, VAT included: ₩108,900" in message.body and "체험" not in message.body


@pytest.mark.parametrize("immediately", [True, False])
def test_no_trial_ending_email_for_a_trial_canceled_or_set_to_cancel(
    customer, trial_plan, immediately, mailoutbox, django_capture_on_commit_callbacks
):
    trial = subscribe(customer, trial_plan).subscription
    subscription_cancel(subscription=trial, immediately=immediately, now=seoul(date(2025, 3, 5)))

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0
    assert Email.objects.filter(kind=EmailKind.TRIAL_ENDING).count() == 0 and messages("무료 체험") == []


def test_a_trial_ending_email_queued_before_a_cancellation_is_not_sent(customer, trial_plan, mailoutbox):
    trial = subscribe(customer, trial_plan).subscription
    renewal_notices_queue(as_of=NOTICE_DAY)  # queued; its job has not run yet
    subscription_cancel(subscription=trial, now=seoul(NOTICE_DAY))
    (email,) = Email.objects.filter(kind=EmailKind.TRIAL_ENDING)

    assert email_send(email_id=email.pk) == "skipped"
    assert messages("무료 체험 종료 안내") == []


def test_trial_ending_days_follow_the_setting(
    customer, trial_plan, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.BILLING_TRIAL_ENDING_NOTICE_DAYS = 0
    subscribe(customer, trial_plan)

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0

    settings.BILLING_TRIAL_ENDING_NOTICE_DAYS = 1
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0
    assert notices_run(django_capture_on_commit_callbacks, TRIAL_END - timedelta(days=1)) == 1
