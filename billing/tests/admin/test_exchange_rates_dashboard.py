"""The dashboard in KRW (issue 17): MRR, revenue and top plans of every currency converted with the exchange rate of
their month and the rate shown; a currency and month without a rate is shown as such and left out of the KRW
figure, never guessed from another month."""

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from billing.admin.dashboard import dashboard_context
from billing.enums import InvoiceStatus, TaxTreatment
from billing.models import Customer, SubscriptionPlan
from billing.periods import BILLING_TIME_ZONE
from billing.services.exchange_rates import exchange_rate_set

from ..factories import CustomerFactory, InvoiceFactory, PaymentFactory, SubscriptionFactory
from ..helpers import seoul

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=BILLING_TIME_ZONE)
JUNE, MAY, APRIL = date(2026, 6, 1), date(2026, 5, 1), date(2026, 4, 1)


def foreign(currency: str) -> Customer:
    return CustomerFactory.create(currency=currency, tax_treatment=TaxTreatment.ZERO_RATED)


def received(customer: Customer, amount: int, day: date) -> None:
    invoice = InvoiceFactory.create(
        customer=customer, subtotal=amount, tax=0, status=InvoiceStatus.OPEN, status__now=seoul(day)
    )
    assert invoice.total == amount
    PaymentFactory.create(invoice=invoice, amount=amount, succeeded_at=seoul(day, 15))


@pytest.fixture
def world(basic_and_pro_plans: dict[str, SubscriptionPlan]) -> None:
    basic, pro = basic_and_pro_plans["basic"], basic_and_pro_plans["pro"]
    krw, usd, eur = CustomerFactory.create(), foreign("USD"), foreign("EUR")
    SubscriptionFactory.create(customer=krw, plan=pro, started=date(2026, 3, 2), created_at=seoul(date(2026, 3, 2)))
    SubscriptionFactory.create(
        customer=usd, plan=basic, currency="USD", price_amount=7_900, created_at=seoul(date(2026, 4, 1))
    )
    SubscriptionFactory.create(
        customer=eur, plan=basic, currency="EUR", price_amount=7_200, created_at=seoul(date(2026, 6, 1))
    )
    received(krw, 50_000, date(2026, 6, 3))
    received(usd, 1_234, date(2026, 6, 4))  # $12.34
    received(eur, 1_000, date(2026, 6, 5))  # €10.00, no June rate
    received(usd, 500, date(2026, 4, 20))  # no April rate
    for month, currency, rate in ((JUNE, "USD", "1380.25"), (MAY, "USD", "1370"), (MAY, "EUR", "1495")):
        exchange_rate_set(month=month, currency=currency, krw_per_unit=Decimal(rate), actor=None)


def test_mrr_in_krw_uses_each_month_rate_and_leaves_a_missing_one_out(world: None) -> None:
    with translation.override("en"):
        context = dashboard_context(now=NOW)

    card = context["mrr_krw"]
    # June: ₩99,000 + $79.00 x 1,380.25 (109,039.75) = 208,039.75; EUR has only May's rate: not converted.
    assert card["show"] and card["current"] == "₩208,040"
    # May: ₩99,000 + $79.00 x 1,370 = 207,230 (the EUR subscription started in June).
    assert card["raw"].previous.krw == 207_230 and card["change"] == "+₩810"
    assert [(used["currency"], used["rate"], used["month"]) for used in card["rates_used"]] == [
        ("USD", "1,380.25", "2026-06")
    ]
    assert [(gap["currency"], gap["month"], gap["amount"]) for gap in card["missing"]] == [("EUR", "2026-06", "€72.00")]
    assert [figure["current"] for figure in context["mrr"]] == ["€72.00", "₩99,000", "$79.00"]  # as they were


def test_revenue_in_krw_per_month_with_the_rates_used(world: None) -> None:
    with translation.override("en"):
        context = dashboard_context(now=NOW)

    months = {item.month: item for item in context["money_months"]}
    # June: ₩50,000 + $12.34 x 1,380.25 (17,032.285); €10.00 without a June rate is left out.
    assert months[JUNE].revenue.krw == 67_032
    assert [part.currency for part in months[JUNE].revenue.missing] == ["EUR"]
    assert months[APRIL].revenue.krw == 0 and [part.amount for part in months[APRIL].revenue.missing] == [500]
    assert 'data-value="67032"' in context["revenue_chart"]
    assert [(row["month"], row["currency"], row["rate"], row["figures"][0]) for row in context["rates_table"]] == [
        ("2026-06", "EUR", "", "€10.00"),
        ("2026-06", "USD", "1,380.25", "$12.34 (₩17,032)"),
        ("2026-04", "USD", "", "$5.00"),
    ]


def test_top_plans_are_ranked_in_krw(world: None) -> None:
    with translation.override("en"):
        plans = dashboard_context(now=NOW)["top_plans"]

    # $79.00 is ₩109,040 this month: more than the ₩99,000 plan; the EUR row has no rate and comes last.
    assert [(plan["name"], plan["mrr"], plan["mrr_krw"]) for plan in plans] == [
        ("베이직", "$79.00", "₩109,040"),
        ("프로", "₩99,000", "₩99,000"),
        ("베이직", "€72.00", "no rate"),
    ]


def test_a_new_rate_changes_the_report_and_nothing_else(world: None) -> None:
    before = dashboard_context(now=NOW)["mrr_krw"]["raw"].current.krw
    exchange_rate_set(month=JUNE, currency="EUR", krw_per_unit=Decimal("1500"), actor=None)

    after = dashboard_context(now=NOW)["mrr_krw"]

    assert after["raw"].current.krw == before + 108_000  # €72.00 x 1,500
    assert after["missing"] == []


def test_only_krw_shows_no_krw_total_card(basic_and_pro_plans: dict[str, SubscriptionPlan]) -> None:
    SubscriptionFactory.create(plan=basic_and_pro_plans["pro"], created_at=seoul(date(2026, 6, 1)))
    context = dashboard_context(now=NOW)
    assert context["mrr_krw"]["show"] is False and context["rates_table"] == []


def test_the_dashboard_reads_the_rates_in_one_query(world: None) -> None:
    with CaptureQueriesContext(connection) as captured:
        dashboard_context(now=NOW)
    assert len(captured) == 9  # the eight reads of before (by currency now) and the exchange rates
    assert sum("billing_exchangerate" in query["sql"] for query in captured.captured_queries) == 1


def test_the_page_shows_the_krw_total_and_the_rates(admin_client: Client, world: None, monkeypatch: Any) -> None:
    monkeypatch.setattr("billing.admin.dashboard.timezone", SimpleNamespace(now=lambda: NOW))  # the page's clock only

    body = admin_client.get(reverse("admin:billing_dashboard")).content.decode()

    card = body.split('id="mrr-total-krw"', 1)[1].split('class="billing-card"', 1)[0]
    assert "₩208,040" in card and "1 USD = ₩1,380.25 (2026-06)" in card and "€72.00" in card
    table = body.split('id="rates-used"', 1)[1].split("</table>", 1)[0]
    assert "$12.34 (₩17,032)" in table and table.count('class="billing-no-rate"') == 2
