"""Subscription emails: the renewal notice (what the renewal will charge, once), canceled at period end, ended."""

from datetime import date, timedelta

import pytest
from django.core import mail

from billing.enums import EmailKind, Language, TaxTreatment
from billing.models import Customer
from billing.models.subscriptions import Subscription
from billing.services.checkout import checkout_create
from billing.services.subscription_emails import renewal_charge, renewal_notices_queue
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_create,
    subscription_quantity_change,
    subscription_renew,
)
from billing.tests.factories import SubscriptionPlanFactory
from billing.tests.helpers import balance_give, seoul
from billing.tests.subscription_support import pay
from billing_site.mail.models import Email, EmailStatus
from billing_site.mail.services import email_send

pytestmark = pytest.mark.django_db

RENEWAL = date(2025, 2, 28)  # pro_from_jan_31 renews then
NOTICE_DAY = RENEWAL - timedelta(days=7)


def messages(kind_subject: str) -> list[mail.EmailMessage]:
    """The messages sent so far whose subject contains `kind_subject` (other emails, invoices', may be there too)."""
    return [message for message in mail.outbox if kind_subject in message.subject]


def html_of(message: mail.EmailMessage) -> str:
    return str(message.alternatives[0][0])  # type: ignore[attr-defined]


def emails(kind: str) -> list[Email]:
    return list(Email.objects.filter(kind=kind).order_by("pk"))


def notices_run(capture, day: date) -> int:
    with capture(execute=True):
        return renewal_notices_queue(as_of=day)


# --- renewal notice ---------------------------------------------------------------------------------------------


def test_the_notice_goes_seven_days_before_with_the_amount_the_renewal_then_invoices(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY - timedelta(days=1)) == 0  # 8 days before
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 1

    (message,) = messages("구독 갱신 안내")
    assert message.subject == "[구독 갱신 안내] 프로 플랜이 2025년 2월 28일에 갱신됩니다 (₩108,900)"
    assert message.to == ["buyer@example.com"]
    text = message.body
    assert "다음 이용 기간: 2025년 2월 28일 ~ 2025년 3월 30일" in text
    assert "공급가액: ₩99,000" in text and "부가세: ₩9,900" in text
    assert "청구 예정 금액(부가세 포함): ₩108,900" in text and "크레딧 차감 전" not in text
    html = html_of(message)
    assert "₩108,900" in html and "주식회사 빌링사이트" in html and "<style" not in html
    (email,) = emails(EmailKind.RENEWAL_UPCOMING)
    assert (email.occurrence, email.object_id, email.status) == ("2025-02-28", str(pro_from_jan_31.pk), "sent")

    outcome = subscription_renew(subscription=pro_from_jan_31, as_of=RENEWAL, now=seoul(RENEWAL))
    (invoice,) = outcome.invoices
    assert (invoice.subtotal, invoice.tax, invoice.total) == (99_000, 9_900, 108_900)


@pytest.mark.parametrize(
    ("tax_treatment", "credit_balance", "expected_total", "before_credit"),
    [
        (TaxTreatment.TAXABLE, 0, 108_900, False),
        (TaxTreatment.ZERO_RATED, 0, 99_000, False),
        (TaxTreatment.EXEMPT, 0, 99_000, False),
        (TaxTreatment.TAXABLE, 10_000, 108_900, True),
    ],
)
def test_the_quoted_charge_is_what_the_renewal_invoices_before_credit(
    pro_from_jan_31, tax_treatment, credit_balance, expected_total, before_credit
):
    Customer.objects.filter(pk=pro_from_jan_31.customer_id).update(tax_treatment=tax_treatment)
    if credit_balance:
        balance_give(pro_from_jan_31.customer, credit_balance)
    subscription = Subscription.objects.select_related("customer").get(pk=pro_from_jan_31.pk)

    charge = renewal_charge(subscription=subscription, customer=subscription.customer)

    assert (charge.total, charge.credit_applies) == (expected_total, before_credit)
    (invoice,) = subscription_renew(subscription=subscription, as_of=RENEWAL, now=seoul(RENEWAL)).invoices
    if before_credit:
        # The credit comes off the supply amount, then VAT: the invoice asks for less than the quoted total.
        assert (invoice.subtotal, invoice.total) == (charge.supply_amount - credit_balance, 97_900)
        assert invoice.total < charge.total
    else:
        assert (invoice.subtotal, invoice.tax, invoice.total) == (charge.supply_amount, charge.vat, charge.total)


def test_a_pending_plan_change_is_what_the_notice_quotes_and_the_renewal_then_invoices(
    pro_from_jan_31, plans, mailoutbox, django_capture_on_commit_callbacks
):
    scheduled = subscription_create(
        customer=pro_from_jan_31.customer,
        plan=plans["starter"],
        billing_period="annual",
        when="period_end",
        now=seoul(date(2025, 2, 10)),
    )
    assert scheduled.scheduled and scheduled.subscription.pk == pro_from_jan_31.pk

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 1

    (message,) = messages("구독 갱신 안내")
    assert message.subject == "[구독 갱신 안내] 스타터 플랜이 2025년 2월 28일에 갱신됩니다 (₩319,000)"
    assert "다음 이용 기간: 2025년 2월 28일 ~ 2026년 2월 27일" in message.body
    assert "공급가액: ₩290,000" in message.body and "부가세: ₩29,000" in message.body
    subscription = Subscription.objects.select_related("customer").get(pk=pro_from_jan_31.pk)
    charge = renewal_charge(subscription=subscription, customer=subscription.customer)

    (invoice,) = subscription_renew(subscription=subscription, as_of=RENEWAL, now=seoul(RENEWAL)).invoices
    renewed = Subscription.objects.get(pk=pro_from_jan_31.pk)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (charge.supply_amount, charge.vat, charge.total)
    assert (renewed.current_period_start, renewed.current_period_end) == (charge.period.start, charge.period.end)
    assert (renewed.plan_id, renewed.billing_period) == (plans["starter"].pk, "annual")


def test_fewer_seats_pending_are_what_the_notice_quotes_and_the_renewal_then_invoices(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    plan = SubscriptionPlanFactory.create(monthly_price=10_000, per_seat=True)
    started = subscription_create(
        customer=customer, plan=plan, billing_period="monthly", quantity=3, now=seoul(date(2025, 1, 31))
    )
    pay(started.invoice, now=seoul(date(2025, 1, 31)))
    assert subscription_quantity_change(
        subscription=started.subscription, quantity=2, now=seoul(date(2025, 2, 10))
    ).scheduled

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 1

    (message,) = messages("구독 갱신 안내")
    assert message.subject.endswith("2025년 2월 28일에 갱신됩니다 (₩22,000)")
    assert "공급가액: ₩20,000" in message.body and "부가세: ₩2,000" in message.body
    subscription = Subscription.objects.select_related("customer").get(pk=started.subscription.pk)
    charge = renewal_charge(subscription=subscription, customer=subscription.customer)

    (invoice,) = subscription_renew(subscription=subscription, as_of=RENEWAL, now=seoul(RENEWAL)).invoices
    renewed = Subscription.objects.get(pk=subscription.pk)
    assert (
        (invoice.subtotal, invoice.tax, invoice.total)
        == (charge.supply_amount, charge.vat, charge.total)
        == (
            20_000,
            2_000,
            22_000,
        )
    )
    assert (renewed.current_period_start, renewed.current_period_end) == (charge.period.start, charge.period.end)


def test_with_a_credit_balance_the_notice_says_before_credit(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    balance_give(pro_from_jan_31.customer, 5_000)

    notices_run(django_capture_on_commit_callbacks, NOTICE_DAY)

    (message,) = messages("구독 갱신 안내")
    assert "청구 예정 금액(부가세 포함): ₩108,900 (크레딧 차감 전)" in message.body


def test_exactly_one_notice_when_the_run_repeats_and_a_missed_day_is_caught_up(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    # The run of the notice day was missed: the next days still announce it, once.
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY + timedelta(days=2)) == 1
    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY + timedelta(days=2)) == 0
    assert notices_run(django_capture_on_commit_callbacks, RENEWAL - timedelta(days=1)) == 0

    assert len(messages("구독 갱신 안내")) == 1
    assert len(emails(EmailKind.RENEWAL_UPCOMING)) == 1


def test_a_renewal_never_announced_is_announced_the_day_before_but_not_on_its_day(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    assert notices_run(django_capture_on_commit_callbacks, RENEWAL) == 0
    assert notices_run(django_capture_on_commit_callbacks, RENEWAL - timedelta(days=1)) == 1
    assert len(messages("구독 갱신 안내")) == 1


def test_no_notice_for_a_subscription_set_to_cancel_or_canceled(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 10)))

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0

    subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 11)))

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0
    assert messages("구독 갱신 안내") == [] and emails(EmailKind.RENEWAL_UPCOMING) == []


def test_no_notice_for_an_incomplete_subscription(customer, plans, mailoutbox, django_capture_on_commit_callbacks):
    started = checkout_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    assert started.subscription.status == "incomplete"

    assert notices_run(django_capture_on_commit_callbacks, NOTICE_DAY) == 0
    assert emails(EmailKind.RENEWAL_UPCOMING) == []


def test_notice_days_zero_turns_notices_off(pro_from_jan_31, settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.BILLING_RENEWAL_NOTICE_DAYS = 0

    for offset in range(0, 8):
        assert notices_run(django_capture_on_commit_callbacks, RENEWAL - timedelta(days=offset)) == 0
    assert emails(EmailKind.RENEWAL_UPCOMING) == [] and messages("구독 갱신 안내") == []


def test_notice_days_follow_the_setting(pro_from_jan_31, settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.BILLING_RENEWAL_NOTICE_DAYS = 3

    assert notices_run(django_capture_on_commit_callbacks, RENEWAL - timedelta(days=4)) == 0
    assert notices_run(django_capture_on_commit_callbacks, RENEWAL - timedelta(days=3)) == 1


def test_a_notice_queued_before_a_cancellation_at_period_end_is_not_sent(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    renewal_notices_queue(as_of=NOTICE_DAY)  # queued; its job has not run yet
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(NOTICE_DAY))
    (email,) = emails(EmailKind.RENEWAL_UPCOMING)

    assert email_send(email_id=email.pk) == "skipped"
    email.refresh_from_db()
    assert email.status == EmailStatus.SKIPPED and messages("구독 갱신 안내") == []


def test_the_notice_in_english(pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks):
    Customer.objects.filter(pk=pro_from_jan_31.customer_id).update(preferred_language=Language.ENGLISH)

    notices_run(django_capture_on_commit_callbacks, NOTICE_DAY)

    (message,) = messages("renews on")
    assert message.subject == "Your Pro plan renews on 28 Feb 2025: ₩108,900"
    assert "Next period: 28 Feb 2025 to 30 Mar 2025" in message.body
    assert "Total with VAT: ₩108,900" in message.body and "VAT: ₩9,900" in message.body
    assert "Billing Site Inc." in html_of(message) and "갱신" not in message.body


def test_the_notice_over_smtp(pro_from_jan_31, smtp_mail, django_capture_on_commit_callbacks):
    notices_run(django_capture_on_commit_callbacks, NOTICE_DAY)

    received = [message for message in smtp_mail.messages() if "구독 갱신 안내" in message.subject]
    assert len(received) == 1
    # .strip(): Python folds a long encoded Subject onto the next line, which the parser reads as a leading space.
    assert received[0].subject.strip() == "[구독 갱신 안내] 프로 플랜이 2025년 2월 28일에 갱신됩니다 (₩108,900)"
    assert received[0].recipients == ("buyer@example.com",)
    assert "청구 예정 금액(부가세 포함): ₩108,900" in received[0].body("plain")
    assert "₩108,900" in received[0].body("html")


# --- canceled and ended -----------------------------------------------------------------------------------------


def test_a_cancellation_at_period_end_sends_one_canceled_email_even_when_asked_twice(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 10)))
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 11)))

    (message,) = messages("구독 해지 접수")
    assert message.subject == "[구독 해지 접수] 프로 플랜은 2025년 2월 27일까지 이용하실 수 있습니다"
    assert "2025년 2월 10일에 접수" in message.body and "2025년 2월 27일까지" in message.body
    (email,) = emails(EmailKind.SUBSCRIPTION_CANCELED)
    assert email.occurrence == "2025-02-10T01:00:00+00:00"  # when it was asked (10:00 in Seoul), in UTC
    assert messages("구독 종료") == [] and emails(EmailKind.SUBSCRIPTION_ENDED) == []


def test_the_period_end_cancellation_taking_effect_sends_the_ended_email(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 10)))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = subscription_renew(subscription=pro_from_jan_31, as_of=RENEWAL, now=seoul(RENEWAL))
    with django_capture_on_commit_callbacks(execute=True):
        subscription_renew(subscription=pro_from_jan_31, as_of=RENEWAL, now=seoul(RENEWAL))

    assert outcome.ended
    (message,) = messages("구독 종료")
    assert message.subject == "[구독 종료] 프로 플랜 구독이 종료되었습니다"
    assert "2025년 2월 28일에 종료" in message.body
    assert "요청하신 대로 이용 기간이 끝나 해지되었습니다" in message.body
    assert len(emails(EmailKind.SUBSCRIPTION_ENDED)) == 1


def test_an_immediate_cancellation_sends_the_ended_email_and_no_canceled_one(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 10)))
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 11)))

    (message,) = messages("구독 종료")
    assert "2025년 2월 10일에 종료" in message.body and "요청에 따라 즉시 해지되었습니다" in message.body
    assert message.to == ["buyer@example.com"]
    assert messages("구독 해지 접수") == [] and emails(EmailKind.SUBSCRIPTION_CANCELED) == []


def test_the_ended_email_in_english_copies_the_cc_contacts(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    Customer.objects.filter(pk=pro_from_jan_31.customer_id).update(
        preferred_language=Language.ENGLISH, cc_emails=["finance@example.com"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 10)))

    (message,) = messages("has ended")
    assert message.subject == "Your Pro plan has ended"
    assert "ended on 10 Feb 2025" in message.body and "Canceled immediately, as requested." in html_of(message)
    assert (message.to, message.cc) == (["buyer@example.com"], ["finance@example.com"])


def test_an_incomplete_subscription_ends_without_email(customer, plans, mailoutbox, django_capture_on_commit_callbacks):
    started = checkout_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    assert started.subscription.status == "incomplete"
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=started.subscription, now=seoul(date(2025, 2, 1)))

    assert Subscription.objects.get(pk=started.subscription.pk).status == "canceled"
    assert emails(EmailKind.SUBSCRIPTION_ENDED) == [] and emails(EmailKind.SUBSCRIPTION_CANCELED) == []
    assert messages("구독 종료") == [] and messages("구독 해지") == []


def test_an_incomplete_subscription_expiring_unpaid_ends_without_email(
    customer, plans, mailoutbox, django_capture_on_commit_callbacks
):
    started = checkout_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    assert started.subscription.status == "incomplete"
    late = started.invoice.due_date + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = subscription_renew(subscription=started.subscription, as_of=late, now=seoul(late))

    assert outcome.status_after == "canceled"
    assert emails(EmailKind.SUBSCRIPTION_ENDED) == [] and messages("구독 종료") == []


def test_a_plan_change_ends_the_old_subscription_without_an_ended_email(
    pro_from_jan_31, plans, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        subscription_create(
            customer=pro_from_jan_31.customer,
            plan=plans["starter"],
            billing_period="monthly",
            now=seoul(date(2025, 2, 5)),
            when="now",  # a downgrade waits for the period end by default
        )

    assert Subscription.objects.get(pk=pro_from_jan_31.pk).status == "canceled"
    assert emails(EmailKind.SUBSCRIPTION_ENDED) == []
