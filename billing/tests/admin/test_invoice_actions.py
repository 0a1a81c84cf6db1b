"""Invoice actions in the admin: each calls the invoice services, reports every invoice, and refuses what it must."""

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from billing.enums import InvoicePdfStatus, InvoiceStatus, PaymentMethod
from billing.models import Customer, Invoice, Payment, SubscriptionPlan
from billing.periods import BILLING_TIME_ZONE
from billing.services.invoices import InvoiceLineInput, invoice_draft_create
from storage.tests.helpers import fetch

from ..factories import InvoiceFactory, PaymentFactory
from ..helpers import seoul, streamed_bytes

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:billing_invoice_changelist"


def run_action(client: Client, action: str, invoices: list[Invoice]) -> tuple[Any, list[str]]:
    response = client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [invoice.pk for invoice in invoices]}, follow=True
    )
    return response, [str(message) for message in get_messages(response.wsgi_request)]


def test_finalize_a_draft_numbers_it(admin_client: Client, customer: Customer) -> None:
    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput(description="설치비", unit_amount=50_000)])
    _response, messages = run_action(admin_client, "finalize_selected", [draft])
    draft.refresh_from_db()
    assert draft.status == InvoiceStatus.OPEN and draft.number
    assert messages == [f"{draft.number}: 확정되었습니다."]


def test_void_of_a_paid_invoice_is_refused_with_the_reason_and_others_go_on(
    admin_client: Client, customer: Customer
) -> None:
    paid = InvoiceFactory.create(customer=customer, subtotal=55_000, tax=0, status=InvoiceStatus.PAID)
    open_invoice = InvoiceFactory.create(customer=customer, subtotal=110_000, tax=0, status=InvoiceStatus.OPEN)
    _response, messages = run_action(admin_client, "void_selected", [paid, open_invoice])
    paid.refresh_from_db()
    open_invoice.refresh_from_db()
    assert paid.status == InvoiceStatus.PAID
    assert open_invoice.status == InvoiceStatus.VOID
    assert paid.number is not None and open_invoice.number is not None
    refusal = next(message for message in messages if paid.number in message)
    assert f"Invoice {paid.number} is paid; it cannot become void." in refusal
    assert any(open_invoice.number in message and message != refusal for message in messages)


def test_void_of_an_invoice_with_payments_names_the_reason(
    admin_client: Client, customer: Customer, issue: Any
) -> None:
    invoice = issue(100_000)
    admin_client.post(
        f"{reverse('admin:billing_invoice_record_payment')}",
        {"ids": str(invoice.pk), "amount": "10000", "received_on": "2026-01-05"},
    )
    _response, messages = run_action(admin_client, "void_selected", [invoice])
    assert any("has payments; refund them before voiding" in message for message in messages)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


def test_record_a_bank_transfer_through_the_intermediate_form(
    admin_client: Client, admin_user: Any, customer: Customer, issue: Any
) -> None:
    invoice = issue(99_000)  # ₩108,900 with VAT
    response, _ = run_action(admin_client, "record_bank_transfer", [invoice])
    form_page = response.content.decode()
    assert "₩108,900" in form_page and 'name="received_on"' in form_page
    url = f"{reverse('admin:billing_invoice_record_payment')}"
    partial = admin_client.post(url, {"ids": str(invoice.pk), "amount": "8900", "received_on": "2026-01-05"})
    assert partial.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, 100_000)
    admin_client.post(
        url, {"ids": str(invoice.pk), "received_on": "2026-01-06", "reference": "KB-20260106-01", "note": "입금 확인"}
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_remaining == 0
    last = Payment.objects.filter(invoice=invoice).order_by("-id").first()
    assert last is not None
    assert (last.method, last.amount, last.provider_reference, last.recorded_by) == (
        PaymentMethod.BANK_TRANSFER,
        100_000,
        "KB-20260106-01",
        admin_user,
    )
    assert last.received_at is not None
    assert last.received_at.astimezone(BILLING_TIME_ZONE).date() == date(2026, 1, 6)
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "KB-20260106-01" in page and "₩100,000" in page


def test_record_payment_refusals_are_reported(admin_client: Client, customer: Customer, issue: Any) -> None:
    first, second = issue(10_000), issue(20_000)
    url = reverse("admin:billing_invoice_record_payment")
    admin_client.post(url, {"ids": str(first.pk), "received_on": "2026-01-05", "reference": "SAME-REF"})
    response = admin_client.post(
        url, {"ids": str(second.pk), "received_on": "2026-01-05", "reference": "SAME-REF"}, follow=True
    )
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("payment with reference 'SAME-REF' is already recorded" in message for message in messages)
    too_much = admin_client.post(
        url, {"ids": str(second.pk), "amount": "999999", "received_on": "2026-01-05"}, follow=True
    )
    assert any("left to pay" in str(message) for message in get_messages(too_much.wsgi_request))
    second.refresh_from_db()
    assert second.amount_paid == 0
    # Several invoices: each is paid in full; an amount or a reference is a form error.
    third = issue(30_000)
    form_error = admin_client.post(url, {"ids": f"{second.pk},{third.pk}", "amount": "5", "received_on": "2026-01-05"})
    assert form_error.status_code == 200 and "errorlist" in form_error.content.decode()
    admin_client.post(url, {"ids": f"{second.pk},{third.pk}", "received_on": "2026-01-05"})
    assert set(Invoice.objects.filter(pk__in=[second.pk, third.pk]).values_list("status", flat=True)) == {"paid"}


def test_future_receipt_date_is_refused(admin_client: Client, issue: Any) -> None:
    invoice = issue(10_000)
    response = admin_client.post(
        reverse("admin:billing_invoice_record_payment"), {"ids": str(invoice.pk), "received_on": "2999-01-01"}
    )
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not Payment.objects.exists()


def test_an_issued_invoice_cannot_be_edited(admin_client: Client, customer: Customer) -> None:
    invoice = InvoiceFactory.create(customer=customer, subtotal=110_000, tax=0, status=InvoiceStatus.OPEN)
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="_save"' not in page  # a read-only page
    response = admin_client.post(url, {"description": "changed", "total": "1"})
    assert response.status_code == 403
    invoice.refresh_from_db()
    assert (invoice.description, invoice.total) == ("", 110_000)
    assert admin_client.get(reverse("admin:billing_invoice_delete", args=[invoice.pk])).status_code == 403


def test_mark_uncollectible_and_regenerate_pdf_buttons(
    admin_client: Client, customer: Customer, issue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    invoice = issue(50_000)
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    button = reverse("admin:billing_invoice_object_action", args=[invoice.pk, "mark_uncollectible"])
    assert button in page
    assert admin_client.post(button).status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    regenerate = reverse("admin:billing_invoice_object_action", args=[invoice.pk, "regenerate_pdf"])
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(regenerate)
    invoice.refresh_from_db()
    assert invoice.pdf_status == InvoicePdfStatus.READY
    revision, pdf_file = invoice.pdf_revision, invoice.pdf_file_id
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(regenerate, follow=True)
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_revision) == (InvoicePdfStatus.READY, revision + 1)
    assert invoice.pdf_file_id != pdf_file
    assert {message.level_tag for message in get_messages(response.wsgi_request)} == {"success"}
    assert admin_client.get(regenerate).status_code == 405


def test_open_pdf_gives_a_short_lived_signed_link(admin_client: Client, issue: Any, settings: Any) -> None:
    invoice = issue(99_000)
    response = admin_client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 302
    status, body, _headers = fetch(response["Location"])
    assert status == 200 and body.startswith(b"%PDF")
    _response, messages = run_action(
        admin_client,
        "open_pdf",
        [invoice, InvoiceFactory.create(customer=invoice.customer, subtotal=1, tax=0, status=InvoiceStatus.OPEN)],
    )
    assert any("exactly one" in message or "하나만" in message for message in messages)


def test_support_reads_and_opens_pdfs_but_cannot_act(
    support_admin_client: Client, customer: Customer, issue: Any
) -> None:
    invoice = issue(99_000)
    changelist = support_admin_client.get(reverse(CHANGELIST))
    assert changelist.status_code == 200
    choices = [name for name, _label in changelist.context["action_form"].fields["action"].choices]
    assert "void_selected" not in choices and "record_bank_transfer" not in choices
    assert "open_pdf" in choices and "export_selected_csv" in choices
    support_admin_client.post(reverse(CHANGELIST), {"action": "void_selected", "_selected_action": [invoice.pk]})
    void_button = reverse("admin:billing_invoice_object_action", args=[invoice.pk, "void"])
    assert support_admin_client.post(void_button).status_code == 403
    assert (
        support_admin_client.get(reverse("admin:billing_invoice_record_payment") + f"?ids={invoice.pk}").status_code
        == 403
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    page = support_admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert void_button not in page
    assert support_admin_client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk])).status_code == 302


def test_billing_staff_group_can_act(billing_staff_admin_client: Client, issue: Any) -> None:
    invoice = issue(10_000)
    button = reverse("admin:billing_invoice_object_action", args=[invoice.pk, "void"])
    assert billing_staff_admin_client.post(button).status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.VOID


def test_csv_export_of_the_filtered_changelist(admin_client: Client, customer: Customer) -> None:
    open_invoice = InvoiceFactory.create(customer=customer, subtotal=110_000, tax=0, status=InvoiceStatus.OPEN)
    paid = InvoiceFactory.create(customer=customer, subtotal=55_000, tax=0, status=InvoiceStatus.OPEN)
    PaymentFactory.create(invoice=paid, amount=55_000, succeeded_at=seoul(date(2026, 6, 2), 9))
    response = admin_client.get(reverse("admin:billing_invoice_export_csv"), {"status__exact": "open"})
    assert response["Content-Type"].startswith("text/csv")
    text = streamed_bytes(response).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["청구서 번호", "상태", "고객 ID"] and "합계" in rows[0]
    assert [row[0] for row in rows[1:]] == [open_invoice.number]
    assert rows[1][rows[0].index("합계")] == "110000"
    payments = admin_client.get(reverse("admin:billing_payment_export_csv"))
    payment_rows = list(csv.reader(io.StringIO(streamed_bytes(payments).decode("utf-8-sig"))))
    assert payment_rows[0][1] == "청구서 번호"
    assert payment_rows[1][1] == paid.number and payment_rows[1][payment_rows[0].index("금액")] == "55000"
    assert payment_rows[1][payment_rows[0].index("처리 일시")] == "2026-06-02T09:00:00+09:00"


def test_stripe_actions_are_hidden_when_stripe_is_off(admin_client: Client, customer: Customer) -> None:
    InvoiceFactory.create(customer=customer, subtotal=1, tax=0, status=InvoiceStatus.OPEN)
    choices = [
        name for name, _ in admin_client.get(reverse(CHANGELIST)).context["action_form"].fields["action"].choices
    ]
    assert "stripe_sync_selected" not in choices


def test_plan_sync_to_stripe_when_stripe_is_on(
    admin_client: Client,
    basic_and_pro_plans: dict[str, SubscriptionPlan],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.STRIPE_ENABLED = True
    synced: list[str] = []

    def plan_stripe_sync(*, plan: SubscriptionPlan) -> list[Any]:
        synced.append(plan.slug)
        return []

    monkeypatch.setattr("billing.providers.stripe.plans.plan_stripe_sync", plan_stripe_sync)
    plan = basic_and_pro_plans["pro"]
    page = admin_client.get(reverse("admin:billing_subscriptionplan_change", args=[plan.pk])).content.decode()
    url = reverse("admin:billing_subscriptionplan_stripe_sync", args=[plan.pk])
    assert url in page
    response = admin_client.post(url, follow=True)
    assert synced == ["pro"]
    assert any(
        "synced to Stripe" in str(message) or "Stripe" in str(message)
        for message in get_messages(response.wsgi_request)
    )
    settings.STRIPE_ENABLED = False
    assert admin_client.post(url).status_code == 403


def test_plan_edit_saves(admin_client: Client, basic_and_pro_plans: dict[str, SubscriptionPlan]) -> None:
    plan = basic_and_pro_plans["basic"]
    url = reverse("admin:billing_subscriptionplan_change", args=[plan.pk])
    response = admin_client.post(
        url,
        {
            "name": "베이직 플러스",
            "name_en": "Basic+",
            "is_active": "on",
            "display_order": "10",
            "monthly_price": "12000",
            "annual_price": "120000",
            "max_projects": "",
            "trial_days": "0",
            "features": "[]",
            "features_en": "[]",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    plan.refresh_from_db()
    assert (plan.name, plan.monthly_price, plan.slug) == ("베이직 플러스", 12_000, "basic")
