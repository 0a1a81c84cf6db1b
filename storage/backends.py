"""Local filesystem storage whose URLs are signed, time-limited and served by the project itself."""

import time
from typing import Any
from urllib.parse import quote

from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.urls import reverse

SIGNING_SALT = "storage.signed-download"
DEFAULT_EXPIRY_SECONDS = 3600


class SignedFileSystemStorage(FileSystemStorage):
    """FileSystemStorage with S3Storage's `url(name, parameters=None, expire=None)` signature.

    The URL carries a Django signature over the key, the expiry time and the download name, so it
    can be neither extended nor pointed at another customer's file.
    """

    def url(self, name: str | None, parameters: dict[str, Any] | None = None, expire: int | None = None) -> str:
        if name is None:
            raise ValueError("A file name is required to build its URL.")
        expires_at = int(time.time()) + int(expire if expire is not None else DEFAULT_EXPIRY_SECONDS)
        payload = {"k": name, "e": expires_at}
        disposition = (parameters or {}).get("ResponseContentDisposition")
        if disposition:
            payload["d"] = disposition
        content_type = (parameters or {}).get("ResponseContentType")
        if content_type:
            payload["t"] = content_type
        token = signing.dumps(payload, salt=SIGNING_SALT, compress=True)
        return reverse("storage-signed-download", kwargs={"token": quote(token, safe="")})


def signed_payload_load(token: str) -> dict[str, Any]:
    """The payload of a signed URL token; raises signing.BadSignature when tampered or expired."""
    payload = signing.loads(token, salt=SIGNING_SALT)
    if int(payload["e"]) < time.time():
        raise signing.SignatureExpired("The link has expired.")
    return payload
