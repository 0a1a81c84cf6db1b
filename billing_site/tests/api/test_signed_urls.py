"""The one signed-URL interface, `storage.url(name, parameters=..., expire=...)`, on both backends."""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from storages.backends.s3 import S3Storage

from storage.backends import SignedFileSystemStorage

pytestmark = pytest.mark.django_db
DISPOSITION = {"ResponseContentDisposition": "attachment; filename*=UTF-8''%EC%B2%AD%EA%B5%AC%EC%84%9C.pdf"}


@pytest.fixture
def local_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storage.backends.SignedFileSystemStorage"}}
    settings.MEDIA_ROOT = tmp_path
    assert isinstance(default_storage, SignedFileSystemStorage)
    return default_storage


def tamper(url: str) -> str:
    """Change one character in the middle of the signature part of a URL."""
    parts = urlsplit(url)
    if parts.query:
        query = dict(parse_qsl(parts.query))
        signature = query["X-Amz-Signature"]
        query["X-Amz-Signature"] = signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]
        return urlunsplit(parts._replace(query=urlencode(query)))
    middle = len(parts.path) - 10
    flipped = "A" if parts.path[middle] != "A" else "B"
    return urlunsplit(parts._replace(path=parts.path[:middle] + flipped + parts.path[middle + 1 :]))


class TestLocalBackend:
    def test_signed_url_downloads_the_bytes_with_the_requested_disposition(self, local_storage, client):
        name = local_storage.save("users/1/document/a.pdf", ContentFile(b"%PDF-1.4 hello"))

        response = client.get(local_storage.url(name, parameters=DISPOSITION, expire=60))

        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"%PDF-1.4 hello"
        assert response["Content-Disposition"] == DISPOSITION["ResponseContentDisposition"]

    def test_tampered_signature_is_refused(self, local_storage, client):
        name = local_storage.save("users/1/document/b.pdf", ContentFile(b"%PDF-1.4"))

        response = client.get(tamper(local_storage.url(name, expire=60)))

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "invalid_signature"

    def test_expired_url_is_refused(self, local_storage, client):
        name = local_storage.save("users/1/document/c.pdf", ContentFile(b"%PDF-1.4"))
        url = local_storage.url(name, expire=1)
        assert client.get(url).status_code == 200

        time.sleep(2.1)
        response = client.get(url)

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "link_expired"


@pytest.mark.skipif(not django_settings.AWS_STORAGE_BUCKET_NAME, reason="needs the harness S3 server")
class TestS3Backend:
    def test_default_storage_is_s3_under_the_harness(self):
        assert isinstance(default_storage, S3Storage)

    def test_signed_url_downloads_the_bytes_with_the_requested_disposition(self):
        name = default_storage.save("tests/signed/a.pdf", ContentFile(b"%PDF-1.4 s3"))

        response = requests.get(default_storage.url(name, parameters=DISPOSITION, expire=60), timeout=10)

        assert response.status_code == 200
        assert response.content == b"%PDF-1.4 s3"
        assert response.headers["Content-Disposition"] == DISPOSITION["ResponseContentDisposition"]

    def test_tampered_signature_is_refused(self):
        name = default_storage.save("tests/signed/b.pdf", ContentFile(b"%PDF-1.4"))

        response = requests.get(tamper(default_storage.url(name, expire=60)), timeout=10)

        assert response.status_code == 403

    def test_expired_url_is_refused(self):
        name = default_storage.save("tests/signed/c.pdf", ContentFile(b"%PDF-1.4"))
        url = default_storage.url(name, expire=1)
        assert requests.get(url, timeout=10).status_code == 200

        time.sleep(2.1)

        assert requests.get(url, timeout=10).status_code == 403
