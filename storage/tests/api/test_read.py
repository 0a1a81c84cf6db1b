"""GET /api/files and GET /api/files/{id}: only the caller's files, newest first, paged, filtered by category."""

import datetime
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from storage.models import StoredFile
from storage.services import file_delete, file_store

from ..helpers import SAMPLES, fetch


@pytest.mark.parametrize("suffix", ["", "/"])
def test_metadata_of_own_file(backend: str, customer_user, customer_client, suffix) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["csv"], original_name="매출.csv")
    response = customer_client.get(f"/api/files/{stored.pk}{suffix}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(stored.pk)
    assert (body["original_name"], body["content_type"], body["size"]) == ("매출.csv", "text/csv", stored.size)
    assert fetch(body["url"]).content == SAMPLES["csv"]


def test_another_customers_file_is_404_not_403(backend: str, customer_user, other_customer_client) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="private.pdf")
    response = other_customer_client.get(f"/api/files/{stored.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "private.pdf" not in response.content.decode()


def test_unknown_and_malformed_ids_are_404(backend: str, customer_client) -> None:
    assert customer_client.get(f"/api/files/{uuid.uuid4()}").status_code == 404
    malformed = customer_client.get("/api/files/12345")
    assert malformed.status_code == 404
    assert malformed.json()["error"]["code"] == "not_found"


def test_a_deleted_file_is_404(backend: str, customer_user, customer_client) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="gone.pdf")
    file_delete(file=stored)
    assert customer_client.get(f"/api/files/{stored.pk}").status_code == 404


def test_metadata_requires_a_token(backend: str, customer_user) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    assert APIClient().get(f"/api/files/{stored.pk}").status_code == 401


def _store_at(owner, sample: str, name: str, minutes_ago: int) -> StoredFile:
    stored = file_store(owner=owner, content=SAMPLES[sample], original_name=name)
    StoredFile.objects.filter(pk=stored.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago))
    return stored


@pytest.mark.parametrize("path", ["/api/files", "/api/files/"])
def test_list_is_own_files_newest_first_with_total(
    backend: str, customer_user, other_customer_user, customer_client, path
):
    old = _store_at(customer_user, "pdf", "old.pdf", 30)
    new = _store_at(customer_user, "png", "new.png", 5)
    middle = _store_at(customer_user, "txt", "middle.txt", 10)
    _store_at(other_customer_user, "pdf", "someone-elses.pdf", 1)
    deleted = _store_at(customer_user, "pdf", "deleted.pdf", 2)
    file_delete(file=deleted)

    response = customer_client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [item["id"] for item in body["results"]] == [str(new.pk), str(middle.pk), str(old.pk)]
    assert all(item["url"] for item in body["results"])


def test_list_filters_by_category_and_pages(backend: str, customer_user, customer_client) -> None:
    documents = [_store_at(customer_user, "pdf", f"{index}.pdf", 60 - index) for index in range(5)]
    _store_at(customer_user, "png", "photo.png", 0)

    page = customer_client.get("/api/files", {"category": "document", "limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [item["id"] for item in page["results"]] == [str(documents[3].pk), str(documents[2].pk)]
    images = customer_client.get("/api/files", {"category": "image"}).json()
    assert [item["original_name"] for item in images["results"]] == ["photo.png"]


def test_list_refuses_an_unknown_category_and_bad_paging(backend: str, customer_client) -> None:
    bad_category = customer_client.get("/api/files", {"category": "archive"})
    assert bad_category.status_code == 400
    assert bad_category.json()["error"]["code"] == "validation_error"
    empty_category = customer_client.get("/api/files?category=")
    assert empty_category.status_code == 400
    assert empty_category.json()["error"]["code"] == "validation_error"
    bad_limit = customer_client.get("/api/files", {"limit": "-1"})
    assert bad_limit.status_code == 400
    assert bad_limit.json()["error"]["code"] == "invalid_pagination"


def test_another_customer_lists_none_of_my_files(backend: str, customer_user, other_customer_client) -> None:
    file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="mine.pdf")
    body = other_customer_client.get("/api/files").json()
    assert (body["total"], body["results"]) == (0, [])
