"""Helpers of the storage tests: sample files of every accepted and refused kind, bucket listing, URL fetching."""

import io
import itertools
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from django.core.files.storage import default_storage
from django.test import Client
from storages.backends.s3 import S3Storage

from storage.backends import SignedFileSystemStorage


def s3_storage_options(**overrides: Any) -> dict[str, Any]:
    """S3Storage options under a fresh prefix of the bucket: a test sees only the objects it wrote."""
    return {"location": f"test-{uuid.uuid4().hex}", **overrides}


def current_storage() -> Any:
    """The storage object behind django's lazy `default_storage`, set up for the current settings."""
    default_storage.exists  # noqa: B018  (any attribute access sets the lazy object up)
    return default_storage._wrapped  # type: ignore[attr-defined]  # django's LazyObject keeps it there


def bucket_keys(prefix: str = "") -> list[str]:
    """Every object name under `prefix` in the current default storage, as the storage names it."""
    storage = current_storage()
    if isinstance(storage, S3Storage):
        s3_storage: S3Storage = storage
        root = s3_storage._normalize_name(prefix)
        location = s3_storage.location + "/" if s3_storage.location else ""
        return sorted(obj.key[len(location) :] for obj in s3_storage.bucket.objects.filter(Prefix=root))
    names: list[str] = []

    def walk(path: str) -> None:
        try:
            directories, files = storage.listdir(path)
        except FileNotFoundError:
            return
        names.extend(f"{path}/{name}".lstrip("/") for name in files)
        for directory in directories:
            walk(f"{path}/{directory}".lstrip("/"))

    walk(prefix.rstrip("/"))
    return sorted(names)


class Fetched(NamedTuple):
    """What a GET answered; unpacks as `status, content, headers` too."""

    status: int
    content: bytes
    headers: dict[str, str]


def fetch(url: str) -> Fetched:
    """GET a (signed) download URL the way a browser would: S3/LocalStack over HTTP, the local backend's
    /files/signed/... through Django."""
    parts = urlsplit(url)
    if parts.hostname in (None, "testserver"):
        answer: Any = Client().get(parts.path + (f"?{parts.query}" if parts.query else ""))
        content = b"".join(answer.streaming_content) if answer.streaming else answer.content
        return Fetched(answer.status_code, content, {k.lower(): v for k, v in answer.items()})
    response = requests.get(url, timeout=10)
    return Fetched(response.status_code, response.content, {k.lower(): v for k, v in response.headers.items()})


def storage_is_local() -> bool:
    return isinstance(current_storage(), SignedFileSystemStorage)


# --- sample files --------------------------------------------------------------------------------------


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pdf_bytes(padding: int = 0) -> bytes:
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n"
    return body + b"%" + b"0" * padding + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def ooxml_parts(kind: str, *, macro: bool = False) -> list[tuple[str, bytes]]:
    """The smallest parts that make a DOCX, XLSX or PPTX: content types, package relationships, the main part."""
    parts = {
        "docx": (
            "word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        ),
        "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
        "pptx": (
            "ppt/presentation.xml",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        ),
    }
    main_part, main_type = parts[kind]
    if macro:
        main_type = main_type.replace("document.main+xml", "document.macroEnabled.main+xml")
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main_part}" ContentType="{main_type}"/></Types>'
    )
    members = [
        ("[Content_Types].xml", content_types.encode()),
        ("_rels/.rels", b"<Relationships/>"),
        (main_part, b"<root/>"),
    ]
    if macro:
        members.append((main_part.split("/")[0] + "/vbaProject.bin", b"\x00" * 64))
    return members


def ooxml_bytes(kind: str, *, macro: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in ooxml_parts(kind, macro=macro):
            archive.writestr(name, data)
    return buffer.getvalue()


ZIP_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
ZIP_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
ZIP_END = struct.Struct("<IHHHHIIH")
ZIP64_END = struct.Struct("<IQHHIIQQQQ")
ZIP64_LOCATOR = struct.Struct("<IIQI")


def zip_archive(
    members: Iterable[tuple[str, bytes]], *, zip64: bool = False, declared_entries: int | None = None
) -> bytes:
    """A ZIP of stored members, written by hand: half a million entries take a second (zipfile: much longer).

    `zip64` ends it the ZIP64 way (ZIP64 record and locator, 0xFFFF.. in the classic record), as a ZIP of
    more than 65,535 entries must be; `declared_entries` makes the end records announce another count.
    """
    pieces: list[bytes] = []
    directory: list[bytes] = []
    offset = count = 0
    for name, data in members:
        encoded = name.encode()
        crc = zlib.crc32(data)
        local = ZIP_LOCAL_HEADER.pack(0x04034B50, 20, 0x800, 0, 0, 0x21, crc, len(data), len(data), len(encoded), 0)
        pieces += (local, encoded, data)
        directory += (
            ZIP_CENTRAL_HEADER.pack(
                0x02014B50, 20, 20, 0x800, 0, 0, 0x21, crc, len(data), len(data), len(encoded), 0, 0, 0, 0, 0, offset
            ),
            encoded,
        )
        offset += len(local) + len(encoded) + len(data)
        count += 1
    central_directory = b"".join(directory)
    declared = count if declared_entries is None else declared_entries
    if zip64:
        end = (
            ZIP64_END.pack(0x06064B50, 44, 45, 45, 0, 0, declared, declared, len(central_directory), offset)
            + ZIP64_LOCATOR.pack(0x07064B50, 0, offset + len(central_directory), 1)
            + ZIP_END.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        )
    else:
        end = ZIP_END.pack(0x06054B50, 0, 0, declared, declared, len(central_directory), offset, 0)
    return b"".join(pieces) + central_directory + end


def docx_with_empty_parts(count: int, *, zip64: bool = True, declared_entries: int | None = None) -> bytes:
    """A DOCX that zipfile would accept, plus `count` empty parts (500,000 of them: 46 MB)."""
    empty = ((f"e/{number:06d}", b"") for number in range(count))
    return zip_archive(itertools.chain(ooxml_parts("docx"), empty), zip64=zip64, declared_entries=declared_entries)


def docx_of_size(size: int) -> bytes:
    """A valid DOCX of exactly `size` bytes: the minimal parts plus one stored media part of padding."""
    name = "word/media/padding.bin"
    bare = len(zip_archive([*ooxml_parts("docx"), (name, b"")]))
    return zip_archive([*ooxml_parts("docx"), (name, b"\0" * (size - bare))])


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return buffer.getvalue()


SAMPLES: dict[str, bytes] = {
    "png": png_bytes(),
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9",
    "gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    "webp": b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 24,
    "mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 64,
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00\x00\x00\x08wide" + b"\x00" * 64,
    "webm": bytes.fromhex("1a45dfa3")
    + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
    + b"\x42\x87\x81\x04\x42\x85\x81\x02"
    + b"\x00" * 64,
    "pdf": pdf_bytes(),
    "txt": "청구서 메모입니다.\nplain text, line two\n".encode(),
    "csv": "이름,금액,통화\n홍길동,99000,KRW\n김철수,12000,KRW\n".encode(),
    "csv_cp949": "이름,금액\n홍길동,99000\n김철수,12000\n".encode("cp949"),
    "docx": ooxml_bytes("docx"),
    "xlsx": ooxml_bytes("xlsx"),
    "pptx": ooxml_bytes("pptx"),
}

REFUSED: dict[str, bytes] = {
    "exe_as_pdf": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200,
    "elf": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200,
    "shell_script": b"#!/bin/sh\nrm -rf /\n",
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "html_after_blank_lines": b"\n\n   <html><body>hi</body></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "xml": b'<?xml version="1.0"?><note>hi</note>',
    "zip": zip_bytes(),
    "docm": ooxml_bytes("docx", macro=True),
    "gzip": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00" * 40,
    "mkv": bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\x82\x88matroska" + b"\x00" * 64,
    "binary_noise": bytes(range(256)) * 4,
    "truncated_zip": b"PK\x03\x04" + b"\x00" * 40,
}


def upload(
    client: Any, content: bytes, name: str = "file.bin", *, path: str = "/api/files/upload", **fields: Any
) -> Any:
    """POST a multipart upload the way a browser form would, with a declared content type the server must ignore."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream"), **fields}
    return client.post(path, data, format="multipart")


def post_form(form: dict[str, Any], content: bytes, name: str = "upload.bin", content_type: str | None = None) -> int:
    """POST bytes to a presigned upload form as a browser would (fields first, the file last); the status code."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    fields = dict(form["fields"])
    file_type = content_type or fields.get("Content-Type", "application/octet-stream")
    parts = urlsplit(form["url"])
    if parts.hostname in (None, "testserver"):
        upload_file = SimpleUploadedFile(name, content, content_type=file_type)
        return Client().post(parts.path, {**fields, "file": upload_file}).status_code
    return requests.post(form["url"], data=fields, files={"file": (name, content, file_type)}, timeout=30).status_code


def pending_upload(owner: Any, hours_ago: float, *, arrived: bool) -> Any:
    """A direct upload started `hours_ago` and never completed; `arrived`: its object reached the bucket."""
    import datetime

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from storage.models import StoredFile
    from storage.services import file_direct_upload_start

    pending, _form, _expires = file_direct_upload_start(
        owner=owner, original_name="a.pdf", content_type="application/pdf"
    )
    if arrived:
        default_storage.save(pending.key, ContentFile(SAMPLES["pdf"]))
    StoredFile.objects.filter(pk=pending.pk).update(created_at=timezone.now() - datetime.timedelta(hours=hours_ago))
    return StoredFile.objects.get(pk=pending.pk)
