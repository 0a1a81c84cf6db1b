"""The type whitelist decides from bytes alone; names are made safe but keep Korean."""

import io
import zipfile

import pytest

from billing_site.errors import ApplicationError
from storage.validators import (
    MAX_ZIP_DIRECTORY_BYTES,
    MAX_ZIP_ENTRIES,
    content_disposition,
    file_kind_detect,
    original_name_sanitize,
)

from .helpers import REFUSED, SAMPLES, docx_with_empty_parts, ooxml_parts, zip_archive

EXPECTED = {
    "png": ("image/png", "image", ".png"),
    "jpeg": ("image/jpeg", "image", ".jpg"),
    "gif": ("image/gif", "image", ".gif"),
    "webp": ("image/webp", "image", ".webp"),
    "mp4": ("video/mp4", "video", ".mp4"),
    "mov": ("video/quicktime", "video", ".mov"),
    "webm": ("video/webm", "video", ".webm"),
    "pdf": ("application/pdf", "document", ".pdf"),
    "txt": ("text/plain", "document", ".txt"),
    "csv": ("text/csv", "document", ".csv"),
    "csv_cp949": ("text/csv", "document", ".csv"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document", ".docx"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document", ".xlsx"),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "document", ".pptx"),
}


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_accepted_kinds_are_detected_from_their_bytes(sample: str) -> None:
    kind = file_kind_detect(io.BytesIO(SAMPLES[sample]))
    assert (kind.content_type, kind.category, kind.extension) == EXPECTED[sample]


@pytest.mark.parametrize("sample", sorted(REFUSED))
def test_refused_kinds_raise_unsupported_file_type(sample: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        file_kind_detect(io.BytesIO(REFUSED[sample]))
    assert caught.value.code == "unsupported_file_type"
    assert caught.value.status_code == 400


def test_empty_content_is_its_own_error() -> None:
    with pytest.raises(ApplicationError) as caught:
        file_kind_detect(io.BytesIO(b""))
    assert caught.value.code == "empty_file"


def test_text_with_a_binary_byte_past_the_first_chunk_is_refused() -> None:
    # The whole file is read, not only its head: a text prefix does not smuggle binary content through.
    content = b"harmless line\n" * 200_000 + b"\x00\x01\x02binary"
    assert len(content) > 2 * 1024 * 1024
    with pytest.raises(ApplicationError) as caught:
        file_kind_detect(io.BytesIO(content))
    assert caught.value.code == "unsupported_file_type"


def test_single_column_text_is_plain_text_not_csv() -> None:
    kind = file_kind_detect(io.BytesIO(b"one\ntwo\nthree\n"))
    assert kind.content_type == "text/plain"


def test_detection_leaves_the_stream_at_the_start() -> None:
    stream = io.BytesIO(SAMPLES["docx"])
    file_kind_detect(stream)
    assert stream.tell() == 0


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize("zip64", [False, True], ids=["zip", "zip64"])
def test_a_document_within_the_zip_limits_is_accepted_with_either_end_record(zip64: bool) -> None:
    content = docx_with_empty_parts(MAX_ZIP_ENTRIES - 3, zip64=zip64)
    assert file_kind_detect(io.BytesIO(content)).content_type == DOCX_TYPE


def test_a_document_with_an_archive_comment_is_accepted() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in ooxml_parts("docx"):
            archive.writestr(name, data)
        archive.comment = b"x" * 60_000  # the end record is then 60 KB before the end of the file
    assert file_kind_detect(io.BytesIO(buffer.getvalue())).content_type == DOCX_TYPE


@pytest.mark.parametrize(
    ("content", "entries"),
    [
        pytest.param(docx_with_empty_parts(MAX_ZIP_ENTRIES - 2, zip64=False), MAX_ZIP_ENTRIES + 1, id="entries"),
        pytest.param(docx_with_empty_parts(MAX_ZIP_ENTRIES - 2, zip64=True), MAX_ZIP_ENTRIES + 1, id="zip64-entries"),
        # The end record may lie about the count: zipfile parses the whole directory whatever it announces.
        pytest.param(
            docx_with_empty_parts(MAX_ZIP_DIRECTORY_BYTES // 46, zip64=False, declared_entries=3), 3, id="size"
        ),
        pytest.param(
            docx_with_empty_parts(MAX_ZIP_DIRECTORY_BYTES // 46, zip64=True, declared_entries=3), 3, id="zip64-size"
        ),
    ],
)
def test_a_zip_announcing_more_parts_or_directory_than_a_document_has_is_refused(content: bytes, entries: int) -> None:
    with pytest.raises(ApplicationError) as caught:
        file_kind_detect(io.BytesIO(content))
    assert (caught.value.code, caught.value.status_code) == ("document_too_complex", 400)
    assert caught.value.fields["entries"] == entries
    assert caught.value.fields["max_entries"] == MAX_ZIP_ENTRIES


def test_a_zip64_locator_without_its_record_is_damaged() -> None:
    content = bytearray(zip_archive(ooxml_parts("docx"), zip64=True))
    record_at = content.rindex(b"PK\x06\x06")
    content[record_at : record_at + 4] = b"XXXX"
    with pytest.raises(ApplicationError) as caught:
        file_kind_detect(io.BytesIO(bytes(content)))
    assert caught.value.code == "unsupported_file_type"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("청구서_2024년_11월.pdf", "청구서_2024년_11월.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\홍길동\\Desktop\\견적서.xlsx", "견적서.xlsx"),
        (".htaccess", "htaccess"),
        ("...hidden.txt", "hidden.txt"),
        ("report\x00\x1f\x7f.pdf", "report .pdf"),
        ("invoice\u202efdp.exe", "invoice fdp.exe"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("  spaced   out  .pdf  ", "spaced out .pdf"),
        ("", "file"),
        ("../..", "file"),
        ("한\u1100\u1161.txt".replace("\u1100\u1161", "\u1100\u1161"), "한가.txt"),  # NFD jamo → NFC syllable
    ],
)
def test_original_name_sanitize(raw: str, expected: str) -> None:
    assert original_name_sanitize(raw) == expected


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = original_name_sanitize("가" * 400 + ".pdf")
    assert len(name) == 255
    assert name.endswith("가.pdf")


def test_content_disposition_has_an_ascii_fallback_and_the_exact_korean_name() -> None:
    header = content_disposition("청구서 2024-11.pdf")
    assert header.startswith('attachment; filename="2024-11.pdf"; ')
    assert header.endswith("filename*=UTF-8''%EC%B2%AD%EA%B5%AC%EC%84%9C%202024-11.pdf")
    header.encode("latin-1")  # must be a valid HTTP header value


def test_content_disposition_of_an_all_korean_name_falls_back_to_download() -> None:
    assert content_disposition("청구서.pdf").startswith('attachment; filename="download.pdf"; ')
