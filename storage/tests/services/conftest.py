"""`bucket_spy`: records every call the services make to the bucket, with what the database looked like meanwhile.

For each call it notes whether a transaction was open on the calling connection and, on PostgreSQL, what another
connection saw at that moment: whether the watched file's row could be locked at once (`SELECT ... FOR UPDATE
NOWAIT`) and its committed state. A service that called the bucket while holding the row's lock shows up as
`in_transaction=True` and, on PostgreSQL, `row_lock="locked"`.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.client import BaseClient
from django.db import DatabaseError, connection, transaction

from storage.models import StoredFile

from ..helpers import current_storage

LOCAL_STORAGE_METHODS = ("delete", "exists", "listdir", "size", "open", "save")


@dataclass(frozen=True)
class BucketCall:
    operation: str
    in_transaction: bool
    row_lock: str  # "free" or "locked" (PostgreSQL, seen from another connection); "-" on other databases
    committed: StoredFile | None  # the watched row as another connection sees it (None: no row, or not PostgreSQL)


def _row_seen_from_another_connection(file_id: Any) -> tuple[str, StoredFile | None]:
    seen: list[tuple[str, StoredFile | None]] = []

    def look() -> None:
        try:
            with transaction.atomic():
                row = StoredFile.objects.select_for_update(nowait=True).filter(pk=file_id).first()
            seen.append(("free", row))
        except DatabaseError:
            seen.append(("locked", StoredFile.objects.filter(pk=file_id).first()))
        finally:
            connection.close()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join(timeout=60)
    assert seen, "the probe of the row did not finish"
    return seen[0]


@dataclass
class BucketSpy:
    watched: Any = None
    calls: list[BucketCall] = field(default_factory=list)
    active: bool = False

    def record(self, operation: str) -> None:
        if not self.active:
            return
        row_lock, committed = "-", None
        if self.watched is not None and connection.vendor == "postgresql":
            row_lock, committed = _row_seen_from_another_connection(self.watched)
        self.calls.append(BucketCall(operation, connection.in_atomic_block, row_lock, committed))

    @contextmanager
    def watching(self, file: StoredFile) -> Iterator["BucketSpy"]:
        self.watched, self.active = file.pk, True
        try:
            yield self
        finally:
            self.active = False

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]


@pytest.fixture
def bucket_spy(backend: str, monkeypatch: pytest.MonkeyPatch) -> BucketSpy:
    """Every S3 API call (the boto client itself) or, on the local backend, every storage method call."""
    spy = BucketSpy()
    if backend == "s3":
        original = BaseClient._make_api_call

        def spying(client: Any, operation_name: str, api_params: Any) -> Any:
            spy.record(operation_name)
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", spying)
    else:
        storage = current_storage()
        for name in LOCAL_STORAGE_METHODS:
            method = getattr(storage, name)

            def spying_method(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
                spy.record(_name)
                return _method(*args, **kwargs)

            monkeypatch.setattr(storage, name, spying_method)
    return spy
