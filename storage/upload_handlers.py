"""Multipart upload handlers that refuse an oversize file while it streams in, before it is held anywhere."""

import hashlib
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http import HttpRequest

from .services import STREAMED_SHA256_ATTRIBUTE, file_too_large

# Room for the multipart boundaries, part headers and small form fields next to the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Django's parser reads in the smallest chunk size of its handlers (64 KB by default); 1 MB chunks cut the
# per-chunk Python work of a 50 MB upload by 16x while keeping at most a megabyte in memory.
CHUNK_BYTES = 1024 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Refuses (413 `file_too_large`) a body whose Content-Length, or a file whose streamed bytes, exceed the limit.

    It runs first in the chain: a declared oversize body is refused before any of it is read, and a file
    that grows past the limit stops the parse at the chunk that crossed it, so neither memory nor the
    bucket ever sees it. The handlers after it spool what passes to memory (small) or a temp file.
    """

    chunk_size = CHUNK_BYTES

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes if max_bytes is not None else int(settings.STORAGE_MAX_UPLOAD_BYTES)
        self.received = 0

    # Django passes the boundary as bytes; its stubs say str.
    def handle_raw_input(  # type: ignore[override]
        self, input_data: Any, META: dict[str, Any], content_length: int, boundary: bytes, encoding: str | None = None
    ) -> None:
        if content_length > self.max_bytes + MULTIPART_OVERHEAD_BYTES:
            raise file_too_large()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self._discard_partial_files()
            raise file_too_large()
        return raw_data

    def _discard_partial_files(self) -> None:
        """Close (and so delete) the temp file the next handler was filling; Django only closes finished ones."""
        for handler in getattr(self.request, "upload_handlers", []):
            partial = getattr(handler, "file", None)
            if handler is not self and partial is not None:
                partial.close()

    def file_complete(self, file_size: int) -> None:
        return None


class _Sha256WhileStreaming:
    """Hashes the bytes a handler keeps as they arrive, saving file_store a second pass over the file.

    The digest is set on the UploadedFile as `STREAMED_SHA256_ATTRIBUTE`; file_store trusts it only on
    an UploadedFile, where nothing else could have set it.
    """

    chunk_size = CHUNK_BYTES

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self._sha256 = hashlib.sha256()  # first: the memory handler's new_file raises StopFutureHandlers
        super().new_file(*args, **kwargs)  # type: ignore[misc]

    def _keeps_data(self) -> bool:
        return True

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self._keeps_data():
            self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)  # type: ignore[misc]

    def file_complete(self, file_size: int) -> UploadedFile | None:
        uploaded = super().file_complete(file_size)  # type: ignore[misc]
        if uploaded is not None:
            setattr(uploaded, STREAMED_SHA256_ATTRIBUTE, self._sha256.hexdigest())
        return uploaded


class StreamingMemoryFileUploadHandler(_Sha256WhileStreaming, MemoryFileUploadHandler):
    def _keeps_data(self) -> bool:
        return bool(self.activated)  # a larger file is passed on to the temp-file handler


class StreamingTemporaryFileUploadHandler(_Sha256WhileStreaming, TemporaryFileUploadHandler):
    pass


def limited_upload_handlers(request: HttpRequest) -> list[FileUploadHandler]:
    """The size limit first, then small files in memory (FILE_UPLOAD_MAX_MEMORY_SIZE), larger ones in a temp file."""
    return [
        SizeLimitUploadHandler(request),
        StreamingMemoryFileUploadHandler(request),
        StreamingTemporaryFileUploadHandler(request),
    ]
