"""manage.py billing_render_pdfs: renders every pending PDF once, reports failures, shows a progress bar."""

import io

import pytest
from django.core.management import call_command

from billing.models import Invoice

from ..helpers import pdf_text, stored_bytes

pytestmark = pytest.mark.django_db


def test_renders_every_pending_pdf_then_has_nothing_to_do(issue, without_pdf_rendering):
    invoices = [issue(1_000 * (index + 1)) for index in range(3)]
    assert set(Invoice.objects.values_list("pdf_status", flat=True)) == {"pending"}

    out, err = io.StringIO(), io.StringIO()
    call_command("billing_render_pdfs", stdout=out, stderr=err)
    assert "Rendered 3 invoice PDF(s)." in out.getvalue()
    assert "3/3" in err.getvalue()  # tqdm's progress bar
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.pdf_status == "ready"
        assert invoice.number in pdf_text(stored_bytes(invoice))

    again = io.StringIO()
    call_command("billing_render_pdfs", stdout=again)
    assert "No pending invoice PDFs." in again.getvalue()


def test_still_failing_pdfs_are_reported_with_exit_status_1(issue, without_pdf_rendering, unreachable_s3):
    invoice = issue()
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("billing_render_pdfs", "--no-progress", stderr=err)
    assert exited.value.code == 1
    assert "1 PDF(s) still pending" in err.getvalue()
    invoice.refresh_from_db()
    assert invoice.pdf_status == "pending" and "storage" in invoice.pdf_error.lower()


@pytest.mark.django_db(transaction=True)
def test_s3_server_stopped_then_back(harness_s3, customer_client, customer):
    """The real outage: LocalStack is stopped while an invoice is created, then started again."""
    harness_s3.stop()
    response = customer_client.post("/api/payment/invoice", {"amount_krw": 77_000}, format="json")
    assert response.status_code == 201  # the invoice stands
    assert (response.json()["pdf_status"], response.json()["pdf_url"]) == ("pending", None)
    invoice = Invoice.objects.get(pk=response.json()["invoice_id"])
    assert invoice.status == "open" and invoice.pdf_error

    harness_s3.start()
    call_command("billing_render_pdfs", "--no-progress", stdout=io.StringIO())
    invoice.refresh_from_db()
    assert invoice.pdf_status == "ready"
    assert "₩84,700" in pdf_text(stored_bytes(invoice))
