"""The dashboard's figures on a known data set, its query count, and the page with its SVG charts."""

from datetime import date, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.admin.dashboard import dashboard_context
from billing.enums import CreditNoteReason, CreditSettlement, InvoiceStatus, PaymentStatus
from billing.models import Customer, Invoice, Subscription, SubscriptionPlan
from billing.periods import BILLING_TIME_ZONE
from billing.selectors.dashboard import (
    dashboard_corrections_by_month,
    dashboard_invoices,
    dashboard_mrr,
    dashboard_revenue_by_month,
    dashboard_subscription_movements,
    dashboard_top_plans,
)
from billing.services.credit_notes import credit_note_issue
from billing.services.payments import payment_record_bank_transfer

from ..factories import CustomerFactory, InvoiceFactory, PaymentFactory, StaffUserFactory, SubscriptionFactory
from ..helpers import seoul

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=BILLING_TIME_ZONE)
TODAY = NOW.date()


def subscription(
    customer: Customer,
    plan: SubscriptionPlan,
    *,
    started: date,
    period: str = "monthly",
    status: str = "active",
    ended: datetime | None = None,
    reason: str = "",
    replaces: Subscription | None = None,
) -> Subscription:
    return SubscriptionFactory.create(
        customer=customer,
        plan=plan,
        billing_period=period,
        status=status,
        started=started,
        canceled_at=ended,
        ended_at=ended,
        cancellation_reason=reason,
        replaces=replaces,
        created_at=seoul(started),
    )


@pytest.fixture
def seeded(basic_and_pro_plans: dict[str, SubscriptionPlan]) -> None:
    basic, pro = basic_and_pro_plans["basic"], basic_and_pro_plans["pro"]
    c = [CustomerFactory.create(user__username=f"seed{index}") for index in range(6)]
    subscription(c[0], pro, started=date(2026, 3, 2))  # 99,000 now and a month ago
    subscription(c[1], pro, started=date(2026, 4, 10), period="annual")  # 990,000 / 12 = 82,500
    subscription(c[2], basic, started=date(2026, 6, 10))  # new in June: 10,000 now only
    subscription(  # churned in June: 10,000 a month ago only
        c[3], basic, started=date(2026, 1, 5), status="canceled", ended=seoul(date(2026, 6, 3)), reason="requested"
    )
    subscription(c[4], basic, started=date(2026, 6, 12), status="incomplete")  # never paid: nowhere
    old = subscription(  # a plan change in May: neither churn nor new business
        c[5], basic, started=date(2026, 2, 1), status="canceled", ended=seoul(date(2026, 5, 20)), reason="replaced"
    )
    subscription(c[5], pro, started=date(2026, 5, 20), replaces=old)

    # Money received (Asia/Seoul months): the first is 31 May 15:30 UTC, i.e. June in Seoul.
    for amount, moment, status in (
        (99_000, seoul(date(2026, 6, 1), 0, 30), PaymentStatus.SUCCEEDED),
        (10_000, seoul(date(2026, 5, 31), 23, 59), PaymentStatus.SUCCEEDED),
        (1_089_000, seoul(date(2026, 3, 15)), PaymentStatus.SUCCEEDED),
        (50_000, seoul(date(2026, 6, 2)), PaymentStatus.FAILED),
        (7_000, seoul(date(2025, 6, 20)), PaymentStatus.SUCCEEDED),  # before the 12-month window
    ):
        if status == PaymentStatus.SUCCEEDED:  # the invoice is paid by this payment
            invoice = issued(c[0], amount, day=moment.date())
            PaymentFactory.create(invoice=invoice, amount=amount, succeeded_at=moment)
        else:  # a failed attempt on an invoice that is no longer open
            invoice = issued(c[0], amount, day=moment.date(), status=InvoiceStatus.VOID)
            PaymentFactory.create(invoice=invoice, amount=amount, status=status, failed_at=moment)
    usd = issued(c[1], 500, currency="USD")
    PaymentFactory.create(invoice=usd, amount=500, succeeded_at=seoul(date(2026, 6, 5)))

    issued(c[0], 110_000, day=date(2026, 6, 1), due_days=29)  # open, due 30 June
    issued(c[1], 55_000, day=date(2026, 5, 1), due_days=31)  # open, overdue since 1 June
    issued(c[2], 33_000, status=InvoiceStatus.UNCOLLECTIBLE)  # written off: not open
    issued(c[3], 1_000, day=date(2026, 6, 14), due_days=1, currency="USD")  # open USD


def issued(
    customer: Customer,
    total: int,
    *,
    day: date = date(2026, 6, 1),
    due_days: int = 30,
    currency: str = "KRW",
    status: str = InvoiceStatus.OPEN,
) -> Invoice:
    """An invoice of `total` (no VAT) issued by the services on `day`, then voided or written off if asked."""
    return InvoiceFactory.create(
        customer=customer,
        subtotal=total,
        tax=0,
        currency=currency,
        days_until_due=due_days,
        status=status,
        status__now=seoul(day),
    )


def test_mrr_and_its_change(seeded: None) -> None:
    figures = {figure.currency: figure for figure in dashboard_mrr(now=NOW)}
    krw = figures["KRW"]
    assert krw.current == 99_000 + 82_500 + 10_000 + 99_000
    assert krw.previous == 99_000 + 82_500 + 10_000 + 10_000
    assert krw.change == 89_000


def test_revenue_by_month(seeded: None) -> None:
    revenue = dashboard_revenue_by_month(today=TODAY)
    assert revenue[0].month == date(2025, 7, 1)
    assert revenue[-1].month == date(2026, 6, 1) and len(revenue) == 12
    by_month = {item.month: item.value for item in revenue if item.value}
    assert by_month == {date(2026, 3, 1): 1_089_000, date(2026, 5, 1): 10_000, date(2026, 6, 1): 99_000}


def test_new_and_canceled_subscriptions_by_month(seeded: None) -> None:
    movements = {item.month: (item.new, item.canceled) for item in dashboard_subscription_movements(today=TODAY)}
    assert {month: value for month, value in movements.items() if value != (0, 0)} == {
        date(2026, 1, 1): (1, 0),
        date(2026, 2, 1): (1, 0),
        date(2026, 3, 1): (1, 0),
        date(2026, 4, 1): (1, 0),
        date(2026, 6, 1): (1, 1),
    }


def test_open_and_overdue_invoices(seeded: None) -> None:
    figures = {figure.currency: figure for figure in dashboard_invoices(today=TODAY)}
    krw = figures["KRW"]
    assert (krw.open_count, krw.open_amount, krw.overdue_count, krw.overdue_amount) == (2, 165_000, 1, 55_000)
    assert (figures["USD"].open_count, figures["USD"].overdue_count) == (1, 0)


def test_top_plans(seeded: None) -> None:
    top = [(plan.name, plan.subscriptions, plan.mrr) for plan in dashboard_top_plans(now=NOW)]
    assert top == [("프로", 3, 280_500), ("베이직", 1, 10_000)]


def test_refunds_and_credit_notes_by_month(billing_staff_user: Any) -> None:
    """Money refunded by card or transfer by the month it left (a refund to the credit balance is not money out);
    credit notes by their month of issue, VAT included."""
    customer = CustomerFactory.create()
    may = issued(customer, 100_000, day=date(2026, 5, 10))
    payment_record_bank_transfer(invoice=may, amount=100_000, actor=billing_staff_user, reference="KB-MAY")
    credit_note_issue(
        invoice=may,
        reason=CreditNoteReason.GOODWILL,
        amount=30_000,
        settlement=CreditSettlement.REFUND,
        bank_reference="KB-OUT-1",
        actor=billing_staff_user,
        now=seoul(date(2026, 5, 31), 23, 30),  # still May in Seoul
    )
    credit_note_issue(
        invoice=may,
        reason=CreditNoteReason.GOODWILL,
        amount=20_000,
        settlement=CreditSettlement.BALANCE,
        actor=billing_staff_user,
        now=seoul(date(2026, 6, 2)),
    )
    june = issued(customer, 50_000, day=date(2026, 6, 3))
    credit_note_issue(
        invoice=june, reason=CreditNoteReason.ORDER_CHANGE, actor=billing_staff_user, now=seoul(date(2026, 6, 4))
    )

    figures = {item.month: (item.refunds, item.credited) for item in dashboard_corrections_by_month(today=TODAY)}

    assert len(figures) == 12
    assert {month: value for month, value in figures.items() if value != (0, 0)} == {
        date(2026, 5, 1): (30_000, 30_000),
        date(2026, 6, 1): (0, 20_000 + 50_000),
    }


def test_the_whole_dashboard_is_nine_queries(seeded: None) -> None:
    with CaptureQueriesContext(connection) as captured:
        context = dashboard_context(now=NOW)
    assert len(captured) == 9  # six reads, refunds and credit notes by month, and the months' exchange rates
    assert context["mrr"][0]["current"] == "₩290,500" and context["mrr"][0]["change"] == "+₩89,000"
    assert "<svg" in context["revenue_chart"] and 'data-value="1089000"' in context["revenue_chart"]
    assert 'data-value="1"' in context["movements_chart"]


def test_dashboard_page(admin_client: Client, seeded: None, support_admin_client: Client) -> None:
    url = reverse("admin:billing_dashboard")
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(captured) <= 11  # session and user, then the nine reads
    body = response.content.decode()
    assert body.count('class="billing-chart"') == 2
    assert "<script" not in body.split("billing-dashboard", 1)[1]  # drawn by the server, nothing loaded
    assert "프로" in body
    assert support_admin_client.get(url).status_code == 200


def test_dashboard_needs_a_billing_group(client: Client) -> None:
    stranger = StaffUserFactory.create(username="stranger")
    client.force_login(stranger)
    assert client.get(reverse("admin:billing_dashboard")).status_code == 403
