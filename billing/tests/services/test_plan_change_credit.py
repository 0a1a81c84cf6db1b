"""A plan change credits only money received for the period it leaves (issue 10, finding 1).

Unpaid: the invoice is voided and what it asked for the days used is billed again, nothing is credited.
Partly paid: refused (409 `replaced_invoice_partly_paid`) until the rest is paid; then prorated as paid in full.
Paid by credit that came from money: credited like money.
"""

from datetime import date

import pytest
from django.utils import timezone

from billing.enums import InvoiceStatus, PaymentStatus
from billing.models import Customer, Invoice, Order, Payment
from billing.models.invoices import InvoiceNumberSequence
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.services.payments import payment_record
from billing.services.renewals import subscriptions_renew_all
from billing.services.subscriptions import subscription_change_plan, subscription_create
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

JAN_1, JAN_11 = date(2025, 1, 1), date(2025, 1, 11)


def lines_of(invoice: Invoice) -> list[tuple[str, int, date | None, date | None]]:
    return [
        (line.description, line.amount, line.period_start, line.period_end)
        for line in invoice.lines.order_by("position")
    ]


def balance_of(customer: Customer) -> int:
    return Customer.objects.get(pk=customer.pk).credit_balance


@pytest.mark.parametrize("cheapest", ["starter", "free"])
def test_leaving_an_unpaid_annual_plan_through_the_api_credits_nothing(
    customer_client, customer, plans, settings, cheapest
):
    """The attack: Stripe off, the most expensive plan annually, never paid, then the cheapest monthly plan."""
    settings.STRIPE_ENABLED = False
    expensive = customer_client.post(
        "/api/payment/subscribe", {"plan": "enterprise", "billing_period": "annual"}, format="json"
    )
    assert expensive.status_code == 201, expensive.content
    assert expensive.json()["invoice"]["status"] == "open"

    response = customer_client.post(
        "/api/payment/subscribe", {"plan": cheapest, "billing_period": "monthly", "when": "now"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["proration"]["credit"] == 0  # was 4,900,000: the unused days of a year never paid
    assert (body["proration"]["credit_on_invoice"], body["proration"]["credit_to_balance"]) == (0, 0)
    assert balance_of(customer) == 0
    assert Invoice.objects.get(pk=expensive.json()["invoice"]["id"]).status == InvoiceStatus.VOID
    new_invoice = Invoice.objects.get(pk=body["invoice"]["id"])
    price = plans[cheapest].monthly_price
    assert new_invoice.subtotal == price  # not a day of the year used: nothing billed again either
    assert new_invoice.status == (InvoiceStatus.OPEN if price else InvoiceStatus.PAID)

    # Later renewals find no credit to spend: the next month is asked for in full.
    subscription = Subscription.objects.get(pk=body["subscription_id"])
    boundary = subscription.current_period_end
    summary = subscriptions_renew_all(as_of=boundary, now=seoul(boundary))
    (renewal,) = Invoice.objects.filter(subscription_link__subscription=subscription).exclude(pk=new_invoice.pk)
    assert summary.failures == []
    assert renewal.subtotal == price and renewal.amount_paid == 0
    assert balance_of(customer) == 0


def test_an_unpaid_period_is_voided_and_its_used_days_are_billed_on_the_new_invoice(customer, plans):
    old = subscription_create(customer=customer, plan=plans["enterprise"], billing_period="annual", now=seoul(JAN_1))

    started = subscription_change_plan(
        subscription=old.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11)
    )

    old.invoice.refresh_from_db()
    assert old.invoice.status == InvoiceStatus.VOID
    # 4,900,000 - 4,900,000 x 355 unused / 365 days (4,765,753.4 -> 4,765,753) = 134,247 for the 10 days used.
    assert (started.credit, started.carried, started.voided_invoice.pk) == (0, 134_247, old.invoice.pk)
    assert lines_of(started.invoice) == [
        ("스타터 플랜 (월간)", 29_000, JAN_11, date(2025, 2, 10)),
        (
            f"미납 청구서 {old.invoice.number} 취소분 중 사용 기간: 엔터프라이즈 플랜 (연간)",
            134_247,
            JAN_1,
            date(2025, 1, 10),
        ),
    ]
    assert (started.invoice.status, started.invoice.subtotal) == (InvoiceStatus.OPEN, 163_247)
    assert started.invoice.due_date == old.invoice.due_date  # moving the debt does not postpone it
    assert balance_of(customer) == 0


def books_of(customer: Customer) -> dict[str, object]:
    """Everything a refused plan change must leave as it was."""
    return {
        "subscriptions": list(
            Subscription.objects.filter(customer=customer)
            .order_by("pk")
            .values_list("pk", "status", "plan__slug", "billing_period", "current_period_end", "ended_at")
        ),
        "invoices": list(
            Invoice.objects.filter(customer=customer)
            .order_by("pk")
            .values_list("pk", "number", "status", "total", "amount_paid", "amount_remaining", "voided_at")
        ),
        "balance": balance_of(customer),
        "numbers": list(InvoiceNumberSequence.objects.order_by("day").values_list("day", "last_number")),
        "orders": Order.objects.filter(customer=customer).count(),
    }


def test_a_partly_paid_period_refuses_the_plan_change_until_the_rest_is_paid(customer, plans):
    """Crediting the paid share while the invoice stays owed in full would bill the same days twice."""
    old = subscription_create(customer=customer, plan=plans["enterprise"], billing_period="annual", now=seoul(JAN_1))
    assert old.invoice.total == 5_390_000
    payment_record(invoice=old.invoice, amount=1_000, method="bank_transfer")
    before = books_of(customer)

    for change in (
        lambda: subscription_change_plan(
            subscription=old.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11)
        ),
        lambda: subscription_create(
            customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11), when="now"
        ),
    ):
        with pytest.raises(ApplicationError) as refused:
            change()
        assert (refused.value.code, refused.value.status_code) == ("replaced_invoice_partly_paid", 409)
        assert old.invoice.number in refused.value.message
        assert books_of(customer) == before  # nothing voided, credited, canceled or numbered

    subscription = Subscription.objects.get(pk=old.subscription.pk)
    assert (subscription.status, subscription.plan.slug) == (SubscriptionStatus.ACTIVE, "enterprise")
    old.invoice.refresh_from_db()
    assert (old.invoice.status, old.invoice.amount_paid, old.invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        1_000,
        5_389_000,
    )
    assert balance_of(customer) == 0

    pay(old.invoice)  # the rest: now the period is paid in full and prorated as such
    started = subscription_change_plan(
        subscription=old.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11)
    )

    # 4,900,000 x 355 / 365 = 4,765,753.4 -> 4,765,753: 29,000 on the invoice, the rest to the balance.
    assert (started.credit, started.credit_on_invoice, started.credit_to_balance) == (4_765_753, 29_000, 4_736_753)
    assert (started.carried, started.voided_invoice) == (0, None)
    old.invoice.refresh_from_db()
    assert (old.invoice.status, old.invoice.amount_remaining) == (InvoiceStatus.PAID, 0)
    assert (started.invoice.total, started.invoice.status) == (0, InvoiceStatus.PAID)
    assert balance_of(customer) == 4_736_753 <= 5_390_000


def test_a_partly_paid_period_is_409_through_the_api(customer_client, customer, plans, settings):
    settings.STRIPE_ENABLED = False
    expensive = customer_client.post(
        "/api/payment/subscribe", {"plan": "enterprise", "billing_period": "annual"}, format="json"
    )
    assert expensive.status_code == 201, expensive.content
    invoice = Invoice.objects.get(pk=expensive.json()["invoice"]["id"])
    payment_record(invoice=invoice, amount=1_000, method="bank_transfer")
    before = books_of(customer)

    response = customer_client.post(
        "/api/payment/subscribe", {"plan": "starter", "billing_period": "monthly", "when": "now"}, format="json"
    )

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "replaced_invoice_partly_paid"
    assert invoice.number in error["message"]
    assert books_of(customer) == before


def test_a_refunded_payment_is_not_money_received(customer, plans):
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    pay(old.invoice)
    Payment.objects.filter(invoice=old.invoice).update(status=PaymentStatus.REFUNDED, refunded_at=timezone.now())

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_1), when="now"
    )

    assert (started.credit, started.carried) == (0, 0)
    assert (started.invoice.status, started.invoice.subtotal) == (InvoiceStatus.OPEN, 29_000)


def test_credit_applied_to_a_paid_period_came_from_money_and_is_credited_like_money(customer, plans):
    pay(subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1)).invoice)
    enterprise = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period="monthly", now=seoul(JAN_1)
    )
    assert enterprise.credit_on_invoice == 99_000
    pay(enterprise.invoice)  # 391,000 + VAT in money

    back = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1), when="now"
    )

    # The enterprise period was paid in full: 99,000 of money-backed credit and 391,000 of money.
    assert (back.credit, back.credit_on_invoice, back.credit_to_balance) == (490_000, 99_000, 391_000)
    money = sum(Payment.objects.filter(customer=customer).values_list("amount", flat=True))
    assert money == 108_900 + 430_100
    # Granted 99,000 + 490,000 in all, but the 99,000 was handed back within the 490,000: net 490,000 <= money.
    assert back.credit <= money


def test_an_unpaid_period_paid_in_part_by_credit_gives_that_credit_back(customer, plans):
    pay(subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1)).invoice)
    subscription_create(customer=customer, plan=plans["free"], billing_period="monthly", now=seoul(JAN_1), when="now")
    assert balance_of(customer) == 99_000  # money-backed
    annual = subscription_create(customer=customer, plan=plans["starter"], billing_period="annual", now=seoul(JAN_1))
    assert (annual.balance_used, annual.invoice.subtotal, annual.invoice.status) == (99_000, 191_000, "open")

    started = subscription_create(customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11))

    # The annual invoice is voided: its 99,000 of credit comes back, its 10 days used are billed again
    # (290,000 - 290,000 x 355 / 365 = 290,000 - 282,054 = 7,946).
    assert Invoice.objects.get(pk=annual.invoice.pk).status == InvoiceStatus.VOID
    assert (started.credit, started.carried) == (99_000, 7_946)
    number = annual.invoice.number
    assert lines_of(started.invoice) == [
        ("스타터 플랜 (월간)", 29_000, JAN_11, date(2025, 2, 10)),
        (f"미납 청구서 {number} 취소분 중 사용 기간: 스타터 플랜 (연간)", 7_946, JAN_1, date(2025, 1, 10)),
        (f"취소된 청구서 {number}에 사용된 크레딧 반환", -36_946, None, None),
    ]
    assert (started.invoice.total, started.invoice.status) == (0, InvoiceStatus.PAID)
    assert balance_of(customer) == 99_000 - 36_946


def test_an_english_customer_reads_the_voided_invoice_lines_in_english(customer, plans):
    customer.preferred_language = "en"
    customer.save()
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11), when="now"
    )

    # 99,000 - 99,000 x 21 / 31 (67,064.5 -> 67,064) = 31,936 for the 10 days used.
    assert lines_of(started.invoice)[1] == (
        f"Used time on Pro plan (monthly) from unpaid invoice {old.invoice.number}, voided",
        31_936,
        JAN_1,
        date(2025, 1, 10),
    )


def test_a_plan_change_after_a_resume_credits_the_carried_paid_days(customer, plans):
    from billing.services.subscriptions.lifecycle import subscription_resume
    from billing.services.subscriptions.pause import subscription_pause

    pro = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    pay(pro.invoice)  # 99,000 + VAT for 1 January .. 1 February
    # Paused on 11 January (21 paid days left), resumed on 5 February: the carried period is [5 Feb, 26 Feb).
    subscription_pause(subscription=pro.subscription, resume_on=date(2025, 2, 5), now=seoul(JAN_11))
    subscription_resume(subscription=pro.subscription, now=seoul(date(2025, 2, 5)))

    started = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period="monthly", now=seoul(date(2025, 2, 10))
    )

    # 16 paid days left (10 .. 25 February) of a 31-day month: 99,000 x 16 / 31, no more than was paid for them.
    assert started.credit == 99_000 * 16 // 31
    assert started.credit <= 99_000 * 16 // 31  # the paid invoice's own rate: 99,000 for 31 days
    money = sum(Payment.objects.filter(customer=customer).values_list("amount", flat=True))
    assert started.credit <= money


def test_a_plan_change_after_a_resume_from_an_unpaid_period_credits_nothing(customer, plans):
    from billing.services.subscriptions.lifecycle import subscription_resume
    from billing.services.subscriptions.pause import subscription_pause

    pro = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    subscription_pause(subscription=pro.subscription, resume_on=date(2025, 2, 5), now=seoul(JAN_11))
    subscription_resume(subscription=pro.subscription, now=seoul(date(2025, 2, 5)))

    started = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period="monthly", now=seoul(date(2025, 2, 10))
    )

    # The carried days' invoice was never paid: it is voided, nothing is credited, the days used are billed again.
    assert started.credit == 0
    assert Invoice.objects.get(pk=pro.invoice.pk).status == InvoiceStatus.VOID
    assert started.carried == 99_000 - 99_000 * 16 // 31


def test_a_plan_change_after_a_resume_from_a_partly_paid_period_is_refused(customer, plans):
    from billing.services.subscriptions.lifecycle import subscription_resume
    from billing.services.subscriptions.pause import subscription_pause

    pro = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    payment_record(invoice=pro.invoice, amount=50_000, method="bank_transfer")
    subscription_pause(subscription=pro.subscription, resume_on=date(2025, 2, 5), now=seoul(JAN_11))
    subscription_resume(subscription=pro.subscription, now=seoul(date(2025, 2, 5)))

    with pytest.raises(ApplicationError) as refused:
        subscription_create(
            customer=customer, plan=plans["enterprise"], billing_period="monthly", now=seoul(date(2025, 2, 10))
        )

    assert (refused.value.code, refused.value.status_code) == ("replaced_invoice_partly_paid", 409)


def test_carried_days_are_never_credited_above_the_rate_they_were_paid_at(customer, plans):
    from billing.services.subscriptions.lifecycle import subscription_resume
    from billing.services.subscriptions.pause import subscription_pause

    pro = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    pay(pro.invoice)  # 99,000 for the 31 days of January
    # Paused on 20 January (12 paid days left), resumed on 20 February: [20 Feb, 4 Mar), in a 28-day cycle.
    subscription_pause(subscription=pro.subscription, resume_on=date(2025, 2, 20), now=seoul(date(2025, 1, 20)))
    resumed = subscription_resume(subscription=pro.subscription, now=seoul(date(2025, 2, 20)))
    assert (resumed.current_period_start, resumed.current_period_end) == (date(2025, 2, 20), date(2025, 3, 4))

    started = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period="monthly", now=seoul(date(2025, 2, 20))
    )

    # 12 days at January's rate (99,000 / 31), not February's (99,000 / 28 would credit more than was paid).
    assert started.credit == 99_000 * 12 // 31


def test_after_a_resume_and_its_renewal_the_change_leaves_the_renewed_period_not_the_paused_one(pro_from_jan_31, plans):
    from billing.services.subscriptions import subscription_renew
    from billing.services.subscriptions.pause import subscription_pause

    # Paused on its boundary day (nothing carried), resumed and renewed on 15 March: [15 Mar, 15 Apr), left unpaid.
    subscription_pause(subscription=pro_from_jan_31, resume_on=date(2025, 3, 15), now=seoul(date(2025, 2, 28)))
    (renewal,) = subscription_renew(
        subscription=pro_from_jan_31, as_of=date(2025, 3, 15), now=seoul(date(2025, 3, 15))
    ).invoices

    started = subscription_create(
        customer=pro_from_jan_31.customer,
        plan=plans["enterprise"],
        billing_period="monthly",
        now=seoul(date(2025, 3, 20)),
    )

    # The period it leaves is the renewed one (unpaid: voided, nothing credited), not January's paid invoice.
    assert (started.credit, started.voided_invoice.pk) == (0, renewal.pk)
