"""Helpers of the billing tests: Seoul moments, PDF text, stored and streamed bytes, concurrency, staff groups."""

import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any, cast

from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpResponseBase, StreamingHttpResponse

from billing.periods import BILLING_TIME_ZONE


def seoul(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """An aware moment on a Seoul calendar day (10:00 by default, safely inside the day)."""
    return datetime.combine(day, time(hour, minute), tzinfo=BILLING_TIME_ZONE)


def pdf_text(content: bytes) -> str:
    """The text of a PDF as poppler's pdftotext reads it (what a person or a search index would see)."""
    assert content.startswith(b"%PDF-"), content[:20]
    result = subprocess.run(["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True)
    return result.stdout.decode("utf-8")


def pdf_fonts(content: bytes, tmp_path: Any) -> str:
    path = tmp_path / "fonts-check.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout


def stored_bytes(invoice: Any) -> bytes:
    """The bytes of an invoice's stored PDF (fails, naming the PDF status and error, when there is none)."""
    invoice.refresh_from_db()
    assert invoice.pdf_file is not None, f"invoice {invoice} has no PDF ({invoice.pdf_status}: {invoice.pdf_error})"
    with default_storage.open(invoice.pdf_file.key, "rb") as handle:
        return bytes(handle.read())


def streamed_bytes(response: HttpResponseBase) -> bytes:
    """The whole body of a streamed response (a CSV export) as the test client got it."""
    assert isinstance(response, StreamingHttpResponse), type(response)
    # The test client's responses are synchronous: their content is a plain iterator of bytes.
    return b"".join(cast(Iterator[bytes], response.streaming_content))


def run_concurrently(worker: Callable[[int], Any], count: int) -> list[Any]:
    """Run `worker(i)` for i in range(count) on `count` threads released together; results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = worker(index)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


# The migrations that shape the staff groups, and the function of each that does it, in order.
STAFF_GROUP_MIGRATIONS = (
    ("billing", "billing.migrations", "0004_staff_groups", "groups_create"),
    ("billing", "billing.migrations", "0007_support_permissions", "permissions_restrict"),
    ("billing", "billing.migrations", "0014_money_document_guards", "permissions_grant"),
    ("billing", "billing.migrations", "0015_usage_billing", "permissions_grant"),
    ("billing", "billing.migrations", "0016_currencies_tax", "permissions_grant"),
    ("jobs", "billing_site.jobs.migrations", "0002_staff_permissions", "permissions_grant"),
    ("mail", "billing_site.mail.migrations", "0002_staff_permissions", "permissions_grant"),
)


def staff_group(name: str) -> Any:
    """A group as the migrations of STAFF_GROUP_MIGRATIONS leave it. A transactional test that ran earlier flushed
    the database (and with it the migrations' rows), so their own functions run again first; they only do what's
    missing.
    """
    import importlib
    from types import SimpleNamespace

    from django.contrib.auth.models import Group
    from django.db.migrations.loader import MigrationLoader

    if not _MIGRATION_APPS:
        # Rendering a migration's model state costs seconds (more under a tracer such as hypothesis's): done once
        # per process, the states being the same for every test.
        loader = MigrationLoader(connection)
        for app_label, _, migration_name, _ in STAFF_GROUP_MIGRATIONS:
            state = loader.project_state((app_label, migration_name), at_end=True)
            _MIGRATION_APPS[(app_label, migration_name)] = state.apps
    for app_label, package, migration_name, function_name in STAFF_GROUP_MIGRATIONS:
        migration = importlib.import_module(f"{package}.{migration_name}")
        apps = _MIGRATION_APPS[(app_label, migration_name)]
        getattr(migration, function_name)(apps, SimpleNamespace(connection=connection))
    return Group.objects.get(name=name)


_MIGRATION_APPS: dict[tuple[str, str], Any] = {}


def balance_give(customer: Any, amount: int) -> Any:
    """Put `amount` on the customer's credit balance as the ledger does it (an `opening` entry), so the database's
    check that the balance is the sum of its entries holds; returns the customer re-read."""
    from django.db import transaction

    from billing.enums import BalanceEntryKind
    from billing.models import Customer
    from billing.services.balance import balance_entry_write

    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        balance_entry_write(customer=locked, amount=amount, kind=BalanceEntryKind.OPENING, currency=locked.currency)
    return Customer.objects.get(pk=customer.pk)
