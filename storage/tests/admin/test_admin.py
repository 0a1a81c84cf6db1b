"""Staff admin for files: list, filters, search, human sizes, a fresh signed link, delete through the service."""

from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.urls import reverse

from storage.models import StoredFile
from storage.services import file_store

from ..helpers import SAMPLES, bucket_keys, fetch

CHANGELIST = "/admin/storage/storedfile/"


@pytest.fixture
def files(backend: str, customer_user, other_customer_user) -> dict[str, StoredFile]:
    return {
        "pdf": file_store(owner=customer_user, content=SAMPLES["pdf"] + b"%" * 3000, original_name="세금계산서.pdf"),
        "png": file_store(owner=other_customer_user, content=SAMPLES["png"], original_name="logo.png"),
        "invoice": file_store(
            owner=customer_user,
            content=SAMPLES["pdf"],
            original_name="INV-0001.pdf",
            attached_type="billing.invoice",
            attached_id="1",
            protected=True,
        ),
    }


def test_changelist_shows_owner_category_human_size_and_an_open_link(admin_client: Client, files) -> None:
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    pdf = files["pdf"]
    assert "세금계산서.pdf" in page and "logo.png" in page
    assert pdf.owner.username in page
    assert filesizeformat(pdf.size) in page
    assert reverse("admin:storage_storedfile_open", args=[pdf.pk]) in page


def test_search_and_filters(admin_client: Client, files) -> None:
    found = admin_client.get(CHANGELIST, {"q": "세금계산서"}).content.decode()
    assert "세금계산서.pdf" in found and "logo.png" not in found
    by_owner = admin_client.get(CHANGELIST, {"q": files["png"].owner.username}).content.decode()
    assert "logo.png" in by_owner and "세금계산서.pdf" not in by_owner
    images = admin_client.get(CHANGELIST, {"category__exact": "image"}).content.decode()
    assert "logo.png" in images and "세금계산서.pdf" not in images
    protected = admin_client.get(CHANGELIST, {"protected__exact": "1"}).content.decode()
    assert "INV-0001.pdf" in protected and "logo.png" not in protected


def test_open_redirects_to_a_short_lived_signed_url_of_the_exact_bytes(admin_client: Client, files, settings) -> None:
    response = admin_client.get(reverse("admin:storage_storedfile_open", args=[files["png"].pk]))
    assert response.status_code == 302
    location = response["Location"]
    download = fetch(location if urlsplit(location).scheme else f"http://testserver{location}")
    assert download.status == 200 and download.content == SAMPLES["png"]


def test_open_is_for_staff_only(client: Client, customer_user, files) -> None:
    client.force_login(customer_user)
    response = client.get(reverse("admin:storage_storedfile_open", args=[files["png"].pk]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_delete_goes_through_the_service_and_staff_may_delete_protected_files(admin_client: Client, files) -> None:
    invoice = files["invoice"]
    response = admin_client.post(reverse("admin:storage_storedfile_delete", args=[invoice.pk]), {"post": "yes"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.deleted_at is not None
    assert invoice.key not in bucket_keys("users")
    assert files["pdf"].key in bucket_keys("users")


def test_bulk_delete_action(admin_client: Client, files) -> None:
    chosen = [files["pdf"].pk, files["png"].pk]
    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [str(pk) for pk in chosen], "post": "yes"}
    )
    assert response.status_code == 302
    assert StoredFile.objects.filter(pk__in=chosen, deleted_at__isnull=False).count() == 2
    assert bucket_keys("users") == [files["invoice"].key]


def test_delete_with_s3_unreachable_keeps_the_file_and_says_why(
    admin_client: Client, s3, settings, customer_user
) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    reachable = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**reachable, "OPTIONS": {**reachable["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }
    response = admin_client.post(reverse("admin:storage_storedfile_delete", args=[stored.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"].endswith(reverse("admin:storage_storedfile_change", args=[stored.pk]))
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("unavailable" in message for message in messages), messages
    stored.refresh_from_db()
    assert stored.deleted_at is None


def test_files_cannot_be_added_or_edited_by_hand(admin_client: Client, files) -> None:
    assert admin_client.get("/admin/storage/storedfile/add/").status_code == 403
    change = admin_client.post(
        reverse("admin:storage_storedfile_change", args=[files["png"].pk]), {"original_name": "renamed.png"}
    )
    assert change.status_code == 403
    files["png"].refresh_from_db()
    assert files["png"].original_name == "logo.png"
