"""Every billing and storage admin page renders: changelists, searches, filters, change pages, and the extra views."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from billing.enums import InvoiceStatus, MetricAggregation
from billing.models import Customer, DunningStep, Subscription, UsageAlert
from billing.services.api_keys import api_key_create
from billing.services.coupons import coupon_apply_to_customer, coupon_create, promotion_code_create
from billing.services.credit_notes import credit_note_issue
from billing.services.dunning import dunning_run
from billing.services.exchange_rates import exchange_rate_set
from billing.services.orders import OrderItemInput, order_create
from billing.services.subscriptions import subscription_create
from billing.services.subscriptions.pause import subscription_pause
from billing.services.usage_ingest import usage_events_ingest
from billing.tests.helpers import balance_give
from storage.services import file_store

from ..factories import (
    BillableMetricFactory,
    CustomerFactory,
    IdempotencyKeyFactory,
    InvoiceFactory,
    PaymentFactory,
    PlanChargeFactory,
    StripeWebhookEventFactory,
    SubscribeAttemptFactory,
    SubscriptionPlanFactory,
)
from ..helpers import seoul

pytestmark = pytest.mark.django_db

MODELS = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in ("billing", "storage")
)


def test_every_billing_and_storage_model_is_registered() -> None:
    from django.apps import apps

    expected = {
        (model._meta.app_label, model._meta.model_name)
        for app in ("billing", "storage")
        for model in apps.get_app_config(app).get_models()
    }
    assert expected <= set(MODELS)


@pytest.fixture
def everything(basic_and_pro_plans: dict, customer: Customer) -> dict[str, Any]:
    """At least one object of every model, so each change page has something to show."""
    other = CustomerFactory.create(
        user__username="other", display_name="김철수", business_registration_number="1010111112"
    )
    start = subscription_create(customer=other, plan=basic_and_pro_plans["pro"], billing_period="monthly")
    order = order_create(customer=customer, items=[OrderItemInput(description="컨설팅", unit_amount=50_000)])
    issued_on = seoul(date(2026, 6, 1))
    invoice = InvoiceFactory.create(
        customer=customer, subtotal=110_000, tax=0, status=InvoiceStatus.OPEN, status__now=issued_on
    )
    paid = InvoiceFactory.create(
        customer=customer, subtotal=55_000, tax=0, status=InvoiceStatus.OPEN, status__now=issued_on
    )
    assert paid.issue_date is not None
    PaymentFactory.create(invoice=paid, amount=55_000, succeeded_at=seoul(paid.issue_date, 12))
    IdempotencyKeyFactory.create(
        user=customer.user, key="key-1", request_path="/api/payment/invoice", expires_at=seoul(paid.issue_date)
    )
    StripeWebhookEventFactory.create(
        stripe_event_id="evt_1", event_type="invoice.paid", stripe_created_at=seoul(paid.issue_date), payload={}
    )
    SubscribeAttemptFactory.create(customer=other, plan=basic_and_pro_plans["pro"])
    # A trial (its TrialClaim) and a pause (its SubscriptionPause), each of a customer of its own.
    team = SubscriptionPlanFactory.create(slug="team", per_seat=True, trial_days=14)
    subscription_create(customer=CustomerFactory.create(), plan=team, billing_period="monthly", quantity=2)
    paused = subscription_create(
        customer=CustomerFactory.create(), plan=basic_and_pro_plans["basic"], billing_period="monthly"
    ).subscription
    subscription_pause(subscription=paused, resume_on=None)
    # A dunning step: the other customer's first invoice, a day overdue.
    overdue = start.invoice
    assert overdue is not None and overdue.due_date is not None
    dunning_run(as_of=overdue.due_date + timedelta(days=1))
    assert DunningStep.objects.filter(invoice=overdue).exists()
    file_store(owner=customer.user, content=b"%PDF-1.4 test", original_name="계약서.pdf", category="document")
    # A credit note of the paid invoice onto the credit balance: its line, day counter, refund and ledger entry.
    credit_note_issue(invoice=paid, reason="goodwill", actor=None, amount=5_500, settlement="balance")
    # A coupon with a promotion code, given by staff to the customer (its redemption).
    welcome = coupon_create(actor=None, name="Welcome", duration="once", percent_off=10)
    promotion_code_create(actor=None, coupon=welcome, code="WELCOME")
    coupon_apply_to_customer(customer=customer, coupon=welcome, actor=None)
    # A metered metric charged by the pro plan (its page shows the charge inline).
    PlanChargeFactory.create(plan=basic_and_pro_plans["pro"], metric=BillableMetricFactory.create(code="api_calls"))
    # A server-to-server key, and usage: an event (its key, rollup and distinct value) and an alert.
    api_key_create(name="백엔드", scopes=["usage:write"], expires_at=None, actor=None)
    users = BillableMetricFactory.create(code="active_users", aggregation=MetricAggregation.UNIQUE_COUNT)
    ingested = usage_events_ingest(
        events=[{"event_id": "evt-1", "metric": "active_users", "value": 7, "timestamp": timezone.now().isoformat()}],
        caller=customer,
        api_key=None,
    )
    assert ingested.accepted == ["evt-1"]
    UsageAlert.objects.create(
        customer=customer, metric=users, period_start=date(2026, 6, 1), threshold=80, quantity=8, included_quantity=10
    )
    # A month's exchange rate, as staff enter it (its list charts it).
    exchange_rate_set(
        month=date(2026, 6, 1), currency="USD", krw_per_unit=Decimal("1380.25"), source="한국은행", actor=None
    )
    return {"invoice": invoice, "subscription": start.subscription, "order": order, "customer": other}


@pytest.mark.parametrize(("app_label", "model_name"), MODELS)
def test_changelist_search_and_change_pages_render(
    admin_client: Any, everything: dict, app_label: str, model_name: str
) -> None:
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    response = admin_client.get(changelist)
    assert response.status_code == 200, response.content[:500]
    assert admin_client.get(changelist, {"q": "김철수"}).status_code == 200
    model = next(
        model
        for model in admin.site._registry
        if (model._meta.app_label, model._meta.model_name) == (app_label, model_name)
    )
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model_name} in the fixture"
    change = admin_client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]))
    assert change.status_code == 200, change.content[:500]


def test_invoice_search_by_number_customer_and_business_number(admin_client: Any, everything: dict) -> None:
    invoice = everything["invoice"]
    changelist = reverse("admin:billing_invoice_changelist")
    for query in (invoice.number, "주식회사 테스트상사", "2208162517", "buyer@example.com"):
        response = admin_client.get(changelist, {"q": query})
        assert response.status_code == 200
        assert invoice.number in response.content.decode(), query
    assert invoice.number not in admin_client.get(changelist, {"q": "nobody-here"}).content.decode()


def test_invoice_filters_and_date_range(admin_client: Any, everything: dict) -> None:
    changelist = reverse("admin:billing_invoice_changelist")
    invoice = everything["invoice"]
    inside = admin_client.get(
        changelist,
        {"status__exact": "open", "issue_date__range_from": "2026-06-01", "issue_date__range_to": "2026-06-01"},
    )
    assert invoice.number in inside.content.decode()
    outside = admin_client.get(changelist, {"issue_date__range_from": "2026-07-01"})
    assert outside.status_code == 200
    assert invoice.number not in outside.content.decode()
    assert admin_client.get(changelist, {"currency__exact": "KRW", "pdf_status__exact": "pending"}).status_code == 200


def test_money_is_shown_in_won_and_dates_in_seoul(admin_client: Any, everything: dict) -> None:
    invoice = everything["invoice"]
    body = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "₩110,000" in body
    assert "2026-06-01 10:00 KST" in body  # finalized at 10:00 Seoul (01:00 UTC)
    listing = admin_client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert "₩110,000" in listing


def test_customer_page_shows_subscriptions_invoices_payments_files_credit_and_history(
    admin_client: Any, everything: dict, customer: Customer
) -> None:
    balance_give(customer, 12_345)
    body = admin_client.get(reverse("admin:billing_customer_change", args=[customer.pk])).content.decode()
    assert everything["invoice"].number in body
    assert "₩12,345" in body
    assert "계약서.pdf" in body
    assert "₩55,000" in body  # the payment
    history = admin_client.get(reverse("admin:billing_customer_billing_history", args=[customer.pk]))
    assert history.status_code == 200
    text = history.content.decode()
    assert "₩110,000" in text and "₩55,000" in text
    other = everything["customer"]
    sub_page = admin_client.get(reverse("admin:billing_customer_change", args=[other.pk])).content.decode()
    assert f"#{Subscription.objects.get(customer=other).pk}" in sub_page


def test_customer_edit_goes_through_the_service(admin_client: Any, customer: Customer) -> None:
    url = reverse("admin:billing_customer_change", args=[customer.pk])
    data = {
        "display_name": "주식회사 새이름",
        "email": "new@example.com",
        "business_registration_number": "2208162517",
        "address": "부산광역시",
        "preferred_language": "en",
        "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert (customer.display_name, customer.preferred_language) == ("주식회사 새이름", "en")
    bad = admin_client.post(url, {**data, "business_registration_number": "1234567890"})
    assert bad.status_code == 200  # the form shows the checksum error
    customer.refresh_from_db()
    assert customer.business_registration_number == "2208162517"


def test_dashboard_linked_from_the_index(admin_client: Any) -> None:
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:billing_dashboard") in index
    assert admin_client.get(reverse("admin:billing_dashboard")).status_code == 200
