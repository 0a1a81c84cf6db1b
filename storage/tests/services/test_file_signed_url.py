"""file_signed_url: a URL that downloads the exact bytes under the original name, and stops working when it expires."""

import base64
import datetime
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core import checks
from django.utils import timezone

from billing_site.errors import ApplicationError
from storage.models import StoredFile
from storage.services import file_signed_url, file_store

from ..factories import StoredFileFactory
from ..helpers import SAMPLES, fetch, s3_storage_options

KOREAN_NAME = "2024년 11월 청구서.pdf"


@pytest.fixture
def stored_pdf(backend: str, customer_user) -> StoredFile:
    return file_store(owner=customer_user, content=SAMPLES["pdf"], original_name=KOREAN_NAME)


def test_downloads_the_exact_bytes_with_the_original_korean_name(stored_pdf: StoredFile) -> None:
    url, expires_at = file_signed_url(file=stored_pdf, expires_in=datetime.timedelta(hours=24))

    fetched = fetch(url)
    assert fetched.status == 200
    assert fetched.content == SAMPLES["pdf"]
    assert fetched.headers["content-type"] == "application/pdf"
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''2024%EB%85%84%2011%EC%9B%94%20%EC%B2%AD%EA%B5%AC%EC%84%9C.pdf" in disposition
    assert abs((expires_at - timezone.now()) - datetime.timedelta(hours=24)) < datetime.timedelta(seconds=5)


def test_a_short_lived_url_is_refused_once_it_has_expired(stored_pdf: StoredFile) -> None:
    url, _ = file_signed_url(file=stored_pdf, expires_in=datetime.timedelta(seconds=2))
    assert fetch(url).status == 200
    time.sleep(3.1)
    expired = fetch(url)
    assert expired.status == 403
    assert SAMPLES["pdf"] not in expired.content


def test_a_tampered_url_is_refused(stored_pdf: StoredFile, customer_user) -> None:
    other = file_store(owner=customer_user, content=SAMPLES["png"], original_name="other.png")
    url, _ = file_signed_url(file=stored_pdf, expires_in=datetime.timedelta(hours=1))
    tampered = url.replace(stored_pdf.key, other.key) if stored_pdf.key in url else url[:-3] + "AAA"
    assert tampered != url
    response = fetch(tampered)
    assert response.status == 403
    assert SAMPLES["png"] not in response.content


def test_a_pending_upload_has_no_download_url(backend: str, customer_user) -> None:
    pending = StoredFileFactory.create(
        owner=customer_user,
        pending=True,
        key=f"users/{customer_user.pk}/document/pending.pdf",
        original_name="p.pdf",
        content=b"",
    )
    with pytest.raises(ApplicationError) as caught:
        file_signed_url(file=pending, expires_in=datetime.timedelta(hours=24))
    assert (caught.value.code, caught.value.status_code) == ("file_not_ready", 409)


def _private_key_pem() -> tuple[str, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return pem.decode(), key.public_key()


def _cloudfront_b64decode(value: str) -> bytes:
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


def test_with_a_cloudfront_domain_and_key_pair_the_url_is_a_signed_cloudfront_url(settings, customer_user) -> None:
    pem, public_key = _private_key_pem()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(
                bucket_name="billing-test",
                custom_domain="files.example-cdn.test",
                cloudfront_key_id="K2JCJMDEHXQW5F",
                cloudfront_key=pem,
            ),
        },
    }
    file = StoredFile(
        owner=customer_user,
        key=f"users/{customer_user.pk}/document/abc.pdf",
        original_name=KOREAN_NAME,
        content_type="application/pdf",
        category="document",
        size=1,
        sha256="0" * 64,
    )
    url, expires_at = file_signed_url(file=file, expires_in=datetime.timedelta(hours=48))

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https" and parts.hostname == "files.example-cdn.test"
    assert parts.path.endswith(f"/users/{customer_user.pk}/document/abc.pdf")
    assert query["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    assert "filename*=UTF-8''" in query["response-content-disposition"][0]
    assert abs(int(query["Expires"][0]) - expires_at.timestamp()) < 5
    # The signature is CloudFront's canned policy over the URL without its signing parameters, by our key.
    unsigned_url = url.split("&Expires=")[0]
    condition = {"DateLessThan": {"AWS:EpochTime": int(query["Expires"][0])}}
    policy = json.dumps({"Statement": [{"Resource": unsigned_url, "Condition": condition}]}, separators=(",", ":"))
    signature = _cloudfront_b64decode(query["Signature"][0])
    public_key.verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303


def test_a_cloudfront_domain_without_a_key_pair_is_flagged_by_a_system_check(settings) -> None:
    settings.AWS_S3_CUSTOM_DOMAIN = "files.example-cdn.test"
    settings.AWS_CLOUDFRONT_KEY_ID = None
    found = [message.id for message in checks.run_checks(tags=[checks.Tags.security])]
    assert "storage.W001" in found
