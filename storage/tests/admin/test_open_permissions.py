"""Seeing a file's record is not opening its bytes (issue 10, finding 5).

With only storage.view_storedfile (the support group), the admin opens attached documents (invoice PDFs) but
not what customers uploaded: no link in the list or on the page, and the open URL is 403. storage.open_upload
(billing staff, superusers) opens both.
"""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from billing_site.tests.helpers import admin_session
from storage.models import StoredFile
from storage.services import file_store

from ..factories import UserFactory
from ..helpers import SAMPLES

CHANGELIST = "/admin/storage/storedfile/"


@pytest.fixture
def files(backend: str, customer_user: Any) -> dict[str, StoredFile]:
    return {
        "upload": file_store(owner=customer_user, content=SAMPLES["png"], original_name="passport-scan.png"),
        "invoice": file_store(
            owner=customer_user,
            content=SAMPLES["pdf"],
            original_name="INV-0001.pdf",
            attached_type="billing.invoice",
            attached_id="1",
            protected=True,
        ),
    }


def _staff_client(*codenames: str) -> Client:
    user = UserFactory.create(username=f"staff-{'-'.join(codenames)}", staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="storage", codename__in=codenames))
    return admin_session(user)


def _open(file: StoredFile) -> str:
    return reverse("admin:storage_storedfile_open", args=[file.pk])


def test_view_only_opens_attached_documents_but_not_uploads(files: dict[str, StoredFile]) -> None:
    viewer = _staff_client("view_storedfile")
    assert viewer.get(_open(files["upload"])).status_code == 403
    assert viewer.get(_open(files["invoice"])).status_code == 302
    listing = viewer.get(CHANGELIST).content.decode()
    assert "passport-scan.png" in listing  # the record is still visible
    assert _open(files["upload"]) not in listing and _open(files["invoice"]) in listing
    page = viewer.get(reverse("admin:storage_storedfile_change", args=[files["upload"].pk])).content.decode()
    assert _open(files["upload"]) not in page


def test_open_upload_opens_both(files: dict[str, StoredFile]) -> None:
    opener = _staff_client("view_storedfile", "open_upload")
    for file in files.values():
        assert opener.get(_open(file)).status_code == 302
    listing = opener.get(CHANGELIST).content.decode()
    assert _open(files["upload"]) in listing and _open(files["invoice"]) in listing


def test_open_upload_without_view_opens_nothing(files: dict[str, StoredFile]) -> None:
    blind = _staff_client("open_upload")
    for file in files.values():
        assert blind.get(_open(file)).status_code == 403
