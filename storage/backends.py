"""Storage backends: local files behind signed, expiring URLs, and what S3 and they offer beyond Django's API."""

import base64
import time
from typing import IO, Any

from botocore.exceptions import ClientError
from django.core import signing
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.urls import reverse
from storages.backends.s3 import S3Storage

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
        return reverse("storage-signed-download", kwargs={"token": token})


def signed_payload_load(token: str) -> dict[str, Any]:
    """The payload of a signed URL token; raises signing.BadSignature when tampered or expired."""
    payload = signing.loads(token, salt=SIGNING_SALT)
    if int(payload["e"]) < time.time():
        raise signing.SignatureExpired("The link has expired.")
    return payload


UPLOAD_SIGNING_SALT = "storage.signed-upload"


def signed_upload_payload_load(token: str) -> dict[str, Any]:
    """The payload of a local presigned POST token; raises signing.BadSignature when tampered or expired."""
    payload = signing.loads(token, salt=UPLOAD_SIGNING_SALT)
    if int(payload["e"]) < time.time():
        raise signing.SignatureExpired("The upload form has expired.")
    return payload


def presigned_post(storage: Storage, name: str, *, content_type: str, max_bytes: int, expire: int) -> dict[str, Any]:
    """A form the client POSTs the file to directly: `{"url", "fields"}`, the file going last as field `file`.

    On S3 it is S3's own presigned POST (key, content type and `content-length-range` enforced by S3); on the
    local backend the project serves the same protocol at /files/signed-upload.
    """
    if isinstance(storage, S3Storage):
        client = storage.connection.meta.client
        return client.generate_presigned_post(
            Bucket=storage.bucket_name,
            Key=storage._normalize_name(name),
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expire,
        )
    if isinstance(storage, SignedFileSystemStorage):
        payload = {"k": name, "t": content_type, "m": max_bytes, "e": int(time.time()) + expire}
        token = signing.dumps(payload, salt=UPLOAD_SIGNING_SALT, compress=True)
        return {"url": reverse("storage-signed-upload"), "fields": {"token": token, "Content-Type": content_type}}
    raise NotImplementedError(f"{type(storage).__name__} cannot give presigned uploads.")


def object_open_stream(storage: Storage, name: str) -> IO[bytes]:
    """A read-once stream of the object's bytes that never holds the whole object in memory.

    S3Storage.open() would download the object into a spooled file first; this streams the GET body.
    Raises FileNotFoundError when the object does not exist.
    """
    if isinstance(storage, S3Storage):
        try:
            response = storage.connection.meta.client.get_object(
                Bucket=storage.bucket_name, Key=storage._normalize_name(name)
            )
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                raise FileNotFoundError(name) from error
            raise
        return response["Body"]
    return storage.open(name, "rb")


def object_put(storage: Storage, name: str, stream: IO[bytes], *, content_type: str, sha256: str) -> str:
    """Write a new object under exactly `name` from a seekable stream whose SHA-256 (hex) is known; returns the name.

    On S3 this is one streaming PutObject: S3Storage.save() would first HEAD the key (our keys are new
    UUIDs) and then go through s3transfer's thread pool, which doubled the time of a 10 MB upload. The
    digest goes along as ChecksumSHA256, so S3 refuses (BadDigest) bytes that are not the ones we hashed
    and recorded.
    """
    if isinstance(storage, S3Storage):
        parameters = {
            "ContentType": content_type,
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256)).decode("ascii"),
            **storage.get_object_parameters(name),
        }
        if "ACL" not in parameters and storage.default_acl:
            parameters["ACL"] = storage.default_acl
        stream.seek(0)
        storage.connection.meta.client.put_object(
            Bucket=storage.bucket_name, Key=storage._normalize_name(name), Body=stream, **parameters
        )
        return name
    return storage.save(name, File(stream, name=name))


def object_copy(storage: Storage, source: str, target: str, *, content_type: str) -> str:
    """Copy an object to a new name in the same storage (server-side on S3); returns the target's name.

    The copy gets the content type and the storage's own object parameters, nothing of the source's
    metadata. Raises FileNotFoundError when the source does not exist.
    """
    if isinstance(storage, S3Storage):
        parameters = {
            "ContentType": content_type,
            "MetadataDirective": "REPLACE",
            **storage.get_object_parameters(target),
        }
        if "ACL" not in parameters and storage.default_acl:
            parameters["ACL"] = storage.default_acl
        try:
            storage.connection.meta.client.copy_object(
                Bucket=storage.bucket_name,
                Key=storage._normalize_name(target),
                CopySource={"Bucket": storage.bucket_name, "Key": storage._normalize_name(source)},
                **parameters,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(source) from error
            raise
        return target
    with storage.open(source, "rb") as source_file:
        return storage.save(target, File(source_file, name=target))


def object_names_with_prefix(storage: Storage, prefix: str) -> list[str]:
    """The names of the objects whose name starts with `prefix` (a folder and the start of a file name)."""
    folder, _, start = prefix.rpartition("/")
    if isinstance(storage, S3Storage):
        root = storage._normalize_name(folder) + "/"
        paginator = storage.connection.meta.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=storage.bucket_name, Prefix=root + start)
        return [f"{folder}/{entry['Key'][len(root) :]}" for page in pages for entry in page.get("Contents", ())]
    try:
        _folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    return [f"{folder}/{name}" for name in files if name.startswith(start)]
