"""Fixtures of the billing tests: billing customers, issued invoices, per-test file storage, storage outages.

Files go to a per-test prefix of the harness's S3 bucket (LocalStack) or, without the harness, to a temp
folder. Tests that need row locks (numbering race, concurrent payments, concurrent idempotency) ask for
`postgresql`; under `make test` the harness always provides it.
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from billing.models import Customer, Invoice
from billing.services.customers import customer_get_or_create
from billing.services.invoices import InvoiceLineInput, invoice_issue

from .helpers import dead_port, staff_group

S3_CONFIGURED = bool(django_settings.AWS_STORAGE_BUCKET_NAME)


@pytest.fixture(autouse=True)
def _isolated_file_storage(settings: Any, tmp_path: Any) -> None:
    """Each test stores files under its own S3 prefix (or temp folder), so tests never see each other's PDFs."""
    if S3_CONFIGURED:
        default = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"location": f"test-billing-{uuid.uuid4().hex}"},
        }
    else:
        default = {
            "BACKEND": "storage.backends.SignedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        }
    settings.STORAGES = {**settings.STORAGES, "default": default}


@pytest.fixture
def postgresql(db: None) -> None:
    """PostgreSQL only: row locks (SELECT ... FOR UPDATE) and the delete guards; SQLite has neither."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (row locks, triggers): run under the harness (make test), not HARNESS_SERVICES=none"
        )


@pytest.fixture
def without_pdf_rendering(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """PDFs stay pending (the ids that would have rendered are collected): for tests about something else."""
    scheduled: list[int] = []
    monkeypatch.setattr(
        "billing.services.pdf.invoice_pdf_render_after_commit", lambda *, invoice_id: scheduled.append(invoice_id)
    )
    return scheduled


@pytest.fixture
def storage_down(settings: Any) -> None:
    """File storage unreachable: S3 on a port where nothing listens (connection refused at once)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": django_settings.AWS_STORAGE_BUCKET_NAME or "billing-test",
                "endpoint_url": f"http://127.0.0.1:{dead_port()}",
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "location": f"test-billing-{uuid.uuid4().hex}",
                "client_config": BotoConfig(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
            },
        },
    }


@pytest.fixture
def harness_s3() -> Iterator[Any]:
    """The harness's LocalStack process, to stop and start again (it is running again after the test)."""
    if not S3_CONFIGURED:
        pytest.skip("needs the harness's S3 server (run under make test, not HARNESS_SERVICES=none)")
    import harness

    server = harness.services().s3
    yield server
    if not server.running:
        server.start()


# --- people ------------------------------------------------------------------------------------------


def jwt_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def make_billing_user(db: None) -> Callable[..., Any]:
    def make(username: str | None = None, **fields: Any) -> Any:
        name = username or f"user-{uuid.uuid4().hex[:10]}"
        return get_user_model().objects.create_user(
            username=name, email=f"{name}@example.com", password="pw-Str0ng-enough", **fields
        )

    return make


@pytest.fixture
def buyer_user(make_billing_user: Callable[..., Any]) -> Any:
    return make_billing_user("buyer")


@pytest.fixture
def buyer(buyer_user: Any) -> Customer:
    """A Korean business customer with a valid 사업자등록번호."""
    customer = customer_get_or_create(user=buyer_user)
    customer.display_name = "주식회사 테스트상사"
    customer.business_registration_number = "2208162517"
    customer.address = "서울특별시 중구 세종대로 110"
    customer.save()
    return customer


@pytest.fixture
def buyer_client(buyer: Customer) -> APIClient:
    return jwt_client(buyer.user)


@pytest.fixture
def intruder(make_billing_user: Callable[..., Any]) -> Customer:
    """Another customer, who must never see the buyer's documents."""
    return customer_get_or_create(user=make_billing_user("intruder"))


@pytest.fixture
def intruder_client(intruder: Customer) -> APIClient:
    return jwt_client(intruder.user)


@pytest.fixture
def staff(make_billing_user: Callable[..., Any]) -> Any:
    """An accountant: staff in the "billing staff" group. What staff may do is their permissions, not is_staff."""
    user = make_billing_user("accountant", is_staff=True)
    user.groups.add(staff_group("billing staff"))
    return user


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return jwt_client(staff)


# --- documents ---------------------------------------------------------------------------------------


@pytest.fixture
def issue(buyer: Customer) -> Callable[..., Invoice]:
    """Issue an invoice (finalized, numbered) of one line; its PDF renders when the transaction commits."""

    def make(amount: int = 99_000, *, customer: Customer | None = None, **options: Any) -> Invoice:
        return invoice_issue(
            customer=customer or buyer,
            lines=[InvoiceLineInput(description=options.pop("description", "Pro 플랜 (월간)"), unit_amount=amount)],
            **options,
        )

    return make


def stored_bytes(invoice: Invoice) -> bytes:
    invoice.refresh_from_db()
    assert invoice.pdf_file is not None, f"invoice {invoice} has no PDF ({invoice.pdf_status}: {invoice.pdf_error})"
    with default_storage.open(invoice.pdf_file.key, "rb") as handle:
        return handle.read()
