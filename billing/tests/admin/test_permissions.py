"""Admin actions are decided by the services, from the acting user's permissions (issue 10, findings 4 and 5).

The admin hides what a user may not do, but hiding is not the rule: called directly, every action of a support
member (view permissions only) is refused by its service, and nothing changes. Support no longer reads stored
Idempotency-Key responses, and nobody sees a response body in the admin.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from billing.enums import InvoiceStatus
from billing.models import Customer, IdempotencyKey, Invoice, Order, Payment, Subscription, SubscriptionPlan
from billing.services.invoices import InvoiceLineInput, invoice_draft_create
from billing.services.orders import OrderItemInput, order_create
from billing.services.subscriptions import subscription_create
from billing.tests.helpers import staff_group
from storage.models import StoredFile
from storage.services import file_store

from ..factories import IdempotencyKeyFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


def _request(user: Any) -> Any:
    request: Any = RequestFactory().post("/admin/")  # gets the attributes the middleware would add
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def _state() -> list[Any]:
    return [
        list(model.objects.order_by("pk").values())
        for model in (Invoice, Payment, Order, Subscription, Customer, SubscriptionPlan)
    ]


@pytest.fixture
def objects(customer: Customer, basic_and_pro_plans: dict[str, SubscriptionPlan]) -> dict[str, Any]:
    return {
        "draft": invoice_draft_create(
            customer=customer, lines=[InvoiceLineInput(description="설치비", unit_amount=1_000)]
        ),
        "open": InvoiceFactory.create(customer=customer, subtotal=110_000, tax=0, status=InvoiceStatus.OPEN),
        "order": order_create(customer=customer, items=[OrderItemInput(description="컨설팅", unit_amount=50_000)]),
        "subscription": subscription_create(
            customer=customer,
            plan=basic_and_pro_plans["basic"],
            billing_period="monthly",
            now=timezone.now() - timedelta(days=40),
        ).subscription,
    }


# (model, admin action, the object it runs on)
ACTIONS = [
    (Invoice, "finalize_selected", "draft"),
    (Invoice, "void_selected", "open"),
    (Invoice, "mark_uncollectible_selected", "open"),
    (Invoice, "regenerate_pdf_selected", "open"),
    (Order, "invoice_selected", "order"),
    (Order, "cancel_selected", "order"),
    (Subscription, "cancel_at_period_end_selected", "subscription"),
    (Subscription, "cancel_now_selected", "subscription"),
    (Subscription, "renew_selected", "subscription"),
]


@pytest.mark.parametrize(("model", "action", "target"), ACTIONS)
def test_support_calling_an_action_directly_is_refused_by_the_service(
    support_user: Any, objects: dict[str, Any], model: Any, action: str, target: str
) -> None:
    model_admin = admin.site._registry[model]
    request = _request(support_user)
    before = _state()
    getattr(model_admin, action)(request, model.objects.filter(pk=objects[target].pk))
    assert _state() == before
    messages = [str(message) for message in get_messages(request)]
    assert len(messages) == 1 and "billing." in messages[0], messages  # "refused: ... (billing.change_invoice)"


def test_support_cannot_record_a_bank_transfer_even_by_posting_the_form(
    support_admin_client: Client, customer: Customer
):
    invoice = InvoiceFactory.create(customer=customer, subtotal=110_000, tax=0, status=InvoiceStatus.OPEN)
    response = support_admin_client.post(
        reverse("admin:billing_invoice_record_payment"), {"ids": str(invoice.pk), "received_on": "2026-01-05"}
    )
    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_billing_staff_run_the_same_actions(billing_staff_admin_client: Client, objects: dict[str, Any]) -> None:
    changelist = reverse("admin:billing_invoice_changelist")
    billing_staff_admin_client.post(changelist, {"action": "void_selected", "_selected_action": [objects["open"].pk]})
    objects["open"].refresh_from_db()
    assert objects["open"].status == InvoiceStatus.VOID


# --- finding 5: stored Idempotency-Key responses and customers' uploads ---------------------------------------


@pytest.fixture
def stored_response(customer: Customer) -> IdempotencyKey:
    return IdempotencyKeyFactory.create(
        user=customer.user,
        key="checkout-1",
        request_path="/api/payment/checkout",
        state="completed",
        response_status=201,
        response_body='{"client_secret": "pi_123_secret_SHOULD-NOT-LEAK"}',
        expires_at=timezone.now() + timedelta(hours=24),
    )


def test_support_cannot_open_idempotency_keys(support_admin_client: Client, stored_response: IdempotencyKey) -> None:
    assert support_admin_client.get(reverse("admin:billing_idempotencykey_changelist")).status_code == 403
    page = support_admin_client.get(reverse("admin:billing_idempotencykey_change", args=[stored_response.pk]))
    assert page.status_code == 403
    assert "SHOULD-NOT-LEAK" not in page.content.decode()
    assert "view_idempotencykey" not in set(
        Group.objects.get(name="support").permissions.values_list("codename", flat=True)
    )


@pytest.mark.parametrize("who", ["billing staff", "superuser"])
def test_nobody_sees_a_stored_response_body_in_the_admin(
    who: str, billing_staff_admin_client: Client, admin_client: Client, stored_response: IdempotencyKey
) -> None:
    client = billing_staff_admin_client if who == "billing staff" else admin_client
    page = client.get(reverse("admin:billing_idempotencykey_change", args=[stored_response.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "checkout-1" in body and "/api/payment/checkout" in body
    assert "SHOULD-NOT-LEAK" not in body and "client_secret" not in body
    listing = client.get(reverse("admin:billing_idempotencykey_changelist"), {"q": "checkout"}).content.decode()
    assert "checkout-1" in listing and "SHOULD-NOT-LEAK" not in listing


def test_support_opens_invoice_pdfs_but_not_customer_uploads(
    support_admin_client: Client, billing_staff_admin_client: Client, customer: Customer
) -> None:
    upload = file_store(owner=customer.user, content=b"%PDF-1.4 passport scan", original_name="passport.pdf")
    invoice_pdf = file_store(
        owner=customer.user,
        content=b"%PDF-1.4 invoice",
        original_name="INV-0001.pdf",
        attached_type="billing.invoice",
        attached_id="1",
        protected=True,
    )
    opened = {
        file.original_name: support_admin_client.get(
            reverse("admin:storage_storedfile_open", args=[file.pk])
        ).status_code
        for file in (upload, invoice_pdf)
    }
    assert opened == {"passport.pdf": 403, "INV-0001.pdf": 302}
    assert billing_staff_admin_client.get(reverse("admin:storage_storedfile_open", args=[upload.pk])).status_code == 302
    assert StoredFile.objects.filter(deleted_at__isnull=True).count() == 2


def test_the_groups_after_migration_0007() -> None:
    support = set(staff_group("support").permissions.values_list("content_type__app_label", "codename"))
    granted = set(staff_group("billing staff").permissions.values_list("content_type__app_label", "codename"))
    assert ("billing", "view_idempotencykey") not in support
    assert ("storage", "open_upload") not in support and ("storage", "view_storedfile") in support
    assert {("storage", "open_upload"), ("billing", "view_idempotencykey")} <= granted


@pytest.mark.parametrize("action", ["_sync_all_instances", "_cancel"])
def test_djstripe_action_view_wants_the_djstripe_permission_not_only_is_staff(
    support_admin_client: Client, billing_staff_admin_client: Client, admin_client: Client, action: str
) -> None:
    """dj-stripe's confirmation view runs any of its handlers (sync everything from Stripe, cancel subscriptions)
    for any staff user; it now needs djstripe.change_<model>, which only superusers hold."""
    url = f"/admin/djstripe/subscription/action/{action}/subscription/"
    for client in (support_admin_client, billing_staff_admin_client):
        assert client.get(url).status_code == 403
        assert client.post(url, {}).status_code == 403
    assert admin_client.post(url, {}).status_code == 200  # the confirmation page again; nothing was selected
