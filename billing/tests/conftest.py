"""Fixtures of the billing tests: per-test file storage, PDFs held back, and invoices issued by the service.

The people (customer, other_customer, billing_staff_user, ...) and their clients are the root conftest's.
Files go to a per-test prefix of the harness's S3 bucket (LocalStack) or, without the harness, to a temp
folder. Tests that need row locks (numbering race, concurrent payments, concurrent idempotency) ask for
`postgresql` (root conftest); under `make test` the harness always provides it.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings

from billing.models import Customer, Invoice
from billing.services.invoices import InvoiceLineInput, invoice_issue
from storage.tests.helpers import s3_storage_options


@pytest.fixture(autouse=True)
def _isolated_file_storage(settings: Any, tmp_path: Any) -> None:
    """Each test stores files under its own S3 prefix (or temp folder), so tests never see each other's PDFs."""
    if django_settings.AWS_STORAGE_BUCKET_NAME:
        default = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options()}
    else:
        default = {
            "BACKEND": "storage.backends.SignedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        }
    settings.STORAGES = {**settings.STORAGES, "default": default}


@pytest.fixture
def without_pdf_rendering(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """PDFs stay pending (the ids that would have rendered are collected): for tests about something else."""
    scheduled: list[int] = []

    def render_skipped(*, invoice: Invoice) -> Invoice:
        scheduled.append(invoice.pk)
        return invoice

    monkeypatch.setattr("billing.jobs.invoice_pdf_render", render_skipped)
    return scheduled


@pytest.fixture
def issue(customer: Customer) -> Callable[..., Invoice]:
    """Issue an invoice (finalized, numbered) of one line through `invoice_issue`; its PDF renders on commit.

    `issue(amount, customer=..., description=..., **invoice_issue options)`; the customer is `customer` by default.
    """

    default_customer = customer

    def make(amount: int = 99_000, *, customer: Customer | None = None, **options: Any) -> Invoice:
        return invoice_issue(
            customer=customer or default_customer,
            lines=[InvoiceLineInput(description=options.pop("description", "Pro 플랜 (월간)"), unit_amount=amount)],
            **options,
        )

    return make


@pytest.fixture
def issued(issue: Callable[..., Invoice], django_capture_on_commit_callbacks: Any) -> Callable[..., Invoice]:
    """`issue`, then what its commit starts (PDF render, email), as a committed request would; fresh from the db."""

    def make(amount: int = 99_000, **options: Any) -> Invoice:
        with django_capture_on_commit_callbacks(execute=True):
            invoice = issue(amount, **options)
        invoice.refresh_from_db()
        return invoice

    return make


@pytest.fixture
def pro_from_jan_31(customer: Customer, plans: dict[str, Any]) -> Any:
    """Pro monthly from 31 January 2025, its first invoice paid: due for renewal on 28 February."""
    from datetime import date

    from billing.services.subscriptions import subscription_create

    from .helpers import seoul
    from .subscription_support import pay

    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    pay(started.invoice, now=seoul(date(2025, 1, 31)))
    return started.subscription
