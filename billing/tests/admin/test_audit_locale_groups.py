"""The audit trail (admin and API actors, before/after values), the Korean admin, and the staff groups."""

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import translation

from billing.models import Customer, Invoice, Payment
from billing.models.subscriptions import Subscription
from billing.tests.helpers import staff_group
from billing_site.tests.helpers import jwt_client

pytestmark = pytest.mark.django_db


def test_admin_payment_is_audited_with_the_staff_user(admin_client: Client, admin_user: Any, issue: Any) -> None:
    invoice = issue(10_000)
    admin_client.post(
        reverse("admin:billing_invoice_record_payment"),
        {"ids": str(invoice.pk), "received_on": "2026-01-05", "reference": "REF-1"},
    )
    payment = Payment.objects.get(invoice=invoice)
    created = LogEntry.objects.get_for_object(payment).get(action=LogEntry.Action.CREATE)
    assert created.actor == admin_user
    change = LogEntry.objects.get_for_object(invoice).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert change.actor == admin_user
    assert change.changes_dict["status"] == ["open", "paid"]
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert admin_user.username in page and "billing-audit" in page
    full = admin_client.get(reverse("admin:billing_invoice_auditlog", args=[invoice.pk]))
    assert full.status_code == 200


def test_api_changes_are_audited_with_the_jwt_user(billing_staff_user: Any, issue: Any) -> None:
    invoice = issue(10_000)
    response = jwt_client(billing_staff_user).post(f"/api/invoices/{invoice.pk}/void")
    assert response.status_code == 200, response.content
    entry = LogEntry.objects.get_for_object(invoice).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == billing_staff_user
    assert entry.changes_dict["status"] == ["open", "void"]


def test_system_changes_have_no_actor(customer: Customer, issue: Any) -> None:
    invoice = issue(10_000)
    entry = LogEntry.objects.get_for_object(Invoice.objects.get(pk=invoice.pk)).latest("timestamp")
    assert entry.actor is None  # a service called outside any request: a command, a renewal, a webhook


def test_subscriptions_and_plans_are_audited(basic_and_pro_plans: dict, customer: Customer) -> None:
    from billing.services.subscriptions import subscription_create

    start = subscription_create(customer=customer, plan=basic_and_pro_plans["pro"], billing_period="monthly")
    assert LogEntry.objects.get_for_object(start.subscription).exists()
    assert LogEntry.objects.get_for_object(basic_and_pro_plans["pro"]).exists()
    assert Subscription.objects.count() == 1


def test_admin_is_korean_by_default_and_english_on_request(admin_client: Client, customer: Customer) -> None:
    changelist = reverse("admin:billing_invoice_changelist")
    korean = admin_client.get(changelist).content.decode()
    assert "청구서" in korean  # the model's verbose name, through locale/ko
    assert "사이트 관리" in korean or "관리" in korean  # Django's own Korean
    switched = admin_client.post(reverse("admin:billing_set_language"), {"language": "en", "next": changelist})
    assert switched.status_code == 302
    english = admin_client.get(changelist).content.decode()
    assert "Invoices" in english and "청구서" not in english


def test_every_verbose_name_and_status_has_a_korean_translation() -> None:
    from django.apps import apps

    missing = []
    with translation.override("ko"):
        for app in ("billing", "storage"):
            for model in apps.get_app_config(app).get_models():
                if app == "billing" and model._meta.model_name == "stripewebhookevent":
                    continue  # the Stripe work's own model, named in its own files
                texts = [model._meta.verbose_name, model._meta.verbose_name_plural]
                texts += [field.verbose_name for field in model._meta.concrete_fields]
                texts += [label for field in model._meta.concrete_fields for _value, label in field.flatchoices]
                for text in texts:
                    shown = str(text)
                    if shown.isascii() and shown not in ("ID", "id", "sha256", "—"):
                        missing.append(f"{model._meta.label}: {shown}")
    assert missing == []


def test_groups_from_the_data_migration() -> None:
    # staff_group: the groups as the migrations leave them, even after a transactional test flushed them
    granted = set(staff_group("billing staff").permissions.values_list("codename", flat=True))
    support = set(staff_group("support").permissions.values_list("codename", flat=True))
    assert {
        "change_invoice",
        "add_payment",
        "change_subscription",
        "change_subscriptionplan",
        "view_logentry",
    } <= granted
    assert {"view_invoice", "view_payment", "view_customer", "view_storedfile"} <= support
    assert all(codename.startswith("view_") for codename in support)
