"""What a file is, decided from its bytes alone: the type whitelist, OOXML and text checks, and safe file names."""

import codecs
import csv
import io
import os
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

import filetype

from billing_site.errors import ApplicationError

HEAD_BYTES = 8192
TEXT_CHUNK_BYTES = 1024 * 1024
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class FileKind:
    content_type: str
    category: str
    extension: str


DOCX = FileKind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document", ".docx")
XLSX = FileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document", ".xlsx")
PPTX = FileKind("application/vnd.openxmlformats-officedocument.presentationml.presentation", "document", ".pptx")
TEXT = FileKind("text/plain", "document", ".txt")
CSV = FileKind("text/csv", "document", ".csv")

# What `filetype` recognises from the first bytes and we accept; everything else it recognises is refused.
MAGIC_KINDS: dict[str, FileKind] = {
    "image/jpeg": FileKind("image/jpeg", "image", ".jpg"),
    "image/png": FileKind("image/png", "image", ".png"),
    "image/gif": FileKind("image/gif", "image", ".gif"),
    "image/webp": FileKind("image/webp", "image", ".webp"),
    "video/mp4": FileKind("video/mp4", "video", ".mp4"),
    "video/webm": FileKind("video/webm", "video", ".webm"),
    "video/quicktime": FileKind("video/quicktime", "video", ".mov"),
    "application/pdf": FileKind("application/pdf", "document", ".pdf"),
}

ALLOWED_KINDS: dict[str, FileKind] = {
    **MAGIC_KINDS,
    **{kind.content_type: kind for kind in (DOCX, XLSX, PPTX, TEXT, CSV)},
}

# The part each OOXML container must have, and the content type [Content_Types].xml must declare for it.
OOXML_MAIN_PARTS: list[tuple[FileKind, str, bytes]] = [
    (DOCX, "word/document.xml", b"wordprocessingml.document.main+xml"),
    (XLSX, "xl/workbook.xml", b"spreadsheetml.sheet.main+xml"),
    (PPTX, "ppt/presentation.xml", b"presentationml.presentation.main+xml"),
]
MAX_CONTENT_TYPES_XML_BYTES = 1024 * 1024

# A real Office document has tens to a few thousand parts and a central directory of some hundred KB. zipfile
# reads and parses the whole central directory into objects before anything can be checked (half a million
# empty entries in 46 MB: seconds of CPU, hundreds of MB), so a ZIP over these limits is refused from its end
# records alone. Within them, listing costs at most ~22,000 entries' worth (1 MiB of 46-byte records).
MAX_ZIP_ENTRIES = 5_000
MAX_ZIP_DIRECTORY_BYTES = 1024 * 1024
# The end-of-central-directory record (22 bytes, then a comment of at most 65,535 bytes), and, in a ZIP64
# file, the ZIP64 locator (20 bytes) right before it and the ZIP64 record (56 bytes) right before that:
# where zipfile itself looks for them, so the numbers checked are the numbers it would use.
ZIP_END = struct.Struct("<4sHHHHIIH")
ZIP64_LOCATOR = struct.Struct("<4sIQI")
ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
ZIP_END_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_END_SIGNATURE = b"PK\x06\x06"
ZIP_MAX_COMMENT_BYTES = 0xFFFF

# Bytes that never occur in a text document (NUL and the C0 controls except tab, LF, FF, CR; DEL).
BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Markup a browser would render or run, and interpreter scripts: refused even though they are text.
ACTIVE_TEXT = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|script|svg|iframe|object|embed|meta|xml|\?xml)\b", re.IGNORECASE
)
TEXT_ENCODINGS = ("utf-8", "cp949")  # Korean spreadsheets export CSV as CP949 (EUC-KR) as often as UTF-8.


def unsupported(message: str) -> ApplicationError:
    return ApplicationError(
        "unsupported_file_type",
        message
        + " Allowed: JPEG, PNG, GIF, WebP images; MP4, WebM, QuickTime videos; PDF, plain text, CSV, DOCX, XLSX, PPTX.",
    )


def file_kind_detect(stream: IO[bytes]) -> FileKind:
    """The kind of file in a seekable binary stream, from its bytes; ApplicationError `unsupported_file_type` otherwise.

    The declared content type and the file name play no part: an executable renamed `.pdf` is an executable.
    """
    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    if not head:
        raise ApplicationError("empty_file", "The file is empty.")
    if head.startswith(b"PK\x03\x04"):
        return _ooxml_kind(stream)
    guessed = filetype.guess(head)
    if guessed is not None:
        kind = MAGIC_KINDS.get(guessed.mime)
        if kind is None:
            raise unsupported(f"Files of type {guessed.mime} are not accepted.")
        return kind
    return _text_kind(stream, head)


def _ooxml_kind(stream: IO[bytes]) -> FileKind:
    """DOCX, XLSX or PPTX; any other ZIP (plain archives, macro-enabled documents, JARs) is refused."""
    _zip_directory_check(stream)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
            content_types = archive.getinfo("[Content_Types].xml") if "[Content_Types].xml" in names else None
            if content_types is None or content_types.file_size > MAX_CONTENT_TYPES_XML_BYTES:
                raise unsupported("ZIP archives are not accepted.")
            declared = archive.read(content_types)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as error:
        raise unsupported("The file is a damaged or unsupported ZIP container.") from error
    finally:
        stream.seek(0)
    if any(name.lower().endswith("vbaproject.bin") for name in names) or b"macroEnabled" in declared:
        raise unsupported("Documents with macros are not accepted.")
    for kind, main_part, main_content_type in OOXML_MAIN_PARTS:
        if main_part in names and main_content_type in declared:
            return kind
    raise unsupported("ZIP archives are not accepted.")


def _zip_directory_check(stream: IO[bytes]) -> None:
    """Refuse, before zipfile lists it, a ZIP whose end records announce more entries or central directory than
    a document has: 400 `document_too_complex`; end records that are missing or inconsistent are damaged.

    Reads at most the last 64 KiB + 22 bytes of the file and the 76 bytes of the ZIP64 records.
    """
    damaged = unsupported("The file is a damaged or unsupported ZIP container.")
    try:
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
        tail_start = max(size - ZIP_END.size - ZIP_MAX_COMMENT_BYTES, 0)
        stream.seek(tail_start)
        tail = stream.read(size - tail_start)
        # As zipfile: a record without a comment at the very end first, else the last signature in the tail.
        end_at = len(tail) - ZIP_END.size
        if end_at < 0 or not (tail[end_at:].startswith(ZIP_END_SIGNATURE) and tail[-2:] == b"\0\0"):
            end_at = tail.rfind(ZIP_END_SIGNATURE)
        if end_at < 0 or end_at + ZIP_END.size > len(tail):
            raise damaged
        *_, entries, directory_bytes, _offset, _comment = ZIP_END.unpack_from(tail, end_at)
        end_position = tail_start + end_at
        locator = b""
        if end_position >= ZIP64_LOCATOR.size + ZIP64_END.size:
            stream.seek(end_position - ZIP64_LOCATOR.size)
            locator = stream.read(ZIP64_LOCATOR.size)
        if locator.startswith(ZIP64_LOCATOR_SIGNATURE):
            stream.seek(end_position - ZIP64_LOCATOR.size - ZIP64_END.size)
            record = stream.read(ZIP64_END.size)
            if not record.startswith(ZIP64_END_SIGNATURE):
                raise damaged
            *_, entries, directory_bytes, _offset = ZIP64_END.unpack(record)
            end_position -= ZIP64_LOCATOR.size + ZIP64_END.size
    finally:
        stream.seek(0)
    if entries > MAX_ZIP_ENTRIES or directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
        raise ApplicationError(
            "document_too_complex",
            f"The document's directory announces {entries} parts in {directory_bytes} bytes; at most "
            f"{MAX_ZIP_ENTRIES} parts and {MAX_ZIP_DIRECTORY_BYTES // 1024} KB are accepted.",
            fields={
                "entries": entries,
                "max_entries": MAX_ZIP_ENTRIES,
                "directory_bytes": directory_bytes,
                "max_directory_bytes": MAX_ZIP_DIRECTORY_BYTES,
            },
        )
    if directory_bytes > end_position:
        raise damaged


def _text_kind(stream: IO[bytes], head: bytes) -> FileKind:
    """Plain text or CSV when every byte decodes as UTF-8 or CP949 and nothing in it is markup or a script."""
    if head.startswith(b"#!"):
        raise unsupported("Scripts are not accepted.")
    if ACTIVE_TEXT.search(head):
        raise unsupported("HTML, SVG and XML files are not accepted.")
    for encoding in TEXT_ENCODINGS:
        if _decodes_as_text(stream, encoding):
            break
    else:
        raise unsupported("The file type could not be recognised.")
    sample = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    return CSV if _looks_tabular(sample) else TEXT


def _decodes_as_text(stream: IO[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    stream.seek(0)
    try:
        while chunk := stream.read(TEXT_CHUNK_BYTES):
            if BINARY_BYTES.search(chunk):
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return True


def _looks_tabular(sample: str) -> bool:
    """At least two complete lines with the same number (≥ 2) of comma-, semicolon- or tab-separated columns."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end inside a line
    lines = [line for line in lines[:50] if line.strip()]
    if len(lines) < 2:
        return False
    for delimiter in (",", "\t", ";"):
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter, strict=True)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return True
    return False


UNSAFE_NAME_CHARACTERS = re.compile(r'[<>:"|?*]')


def original_name_sanitize(name: str) -> str:
    """A display name safe to store and to send back in Content-Disposition; Korean and other scripts are kept.

    Path components, control and format characters (including right-to-left overrides that disguise an
    extension), characters Windows forbids, leading dots and surrounding spaces go; long names are cut to
    255 characters keeping the extension.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in name)
    name = UNSAFE_NAME_CHARACTERS.sub("_", name)
    name = " ".join(name.split())
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return "file"
    if len(name) > MAX_NAME_LENGTH:
        stem, extension = os.path.splitext(name)
        if len(extension) > 16:
            stem, extension = name, ""
        name = stem[: MAX_NAME_LENGTH - len(extension)].rstrip(". ") + extension
    return name


def content_disposition(name: str, *, as_attachment: bool = True) -> str:
    """A Content-Disposition header value: an ASCII fallback plus the exact name in RFC 5987 `filename*`."""
    disposition = "attachment" if as_attachment else "inline"
    stem, extension = os.path.splitext(name)
    fallback_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    fallback_stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", fallback_stem).strip(" _.")
    fallback_extension = re.sub(r"[^A-Za-z0-9.]+", "", extension)
    fallback = (fallback_stem or "download") + fallback_extension
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
