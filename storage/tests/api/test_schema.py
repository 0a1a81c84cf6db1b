"""The OpenAPI schema documents every files endpoint, without trailing slashes, with each error code it can give."""

import pytest
from drf_spectacular.generators import SchemaGenerator

EXPECTED = {
    ("/api/files/upload", "post"): {
        "201": [],
        "400": ["unsupported_file_type", "document_too_complex", "category_mismatch", "file_required"],
        "413": ["file_too_large"],
        "429": ["throttled"],
        "503": ["storage_unavailable"],
    },
    ("/api/files", "get"): {"200": [], "400": ["validation_error", "invalid_pagination"], "401": ["not_authenticated"]},
    ("/api/files/{file_id}", "get"): {"200": [], "404": ["not_found"]},
    ("/api/files/{file_id}", "delete"): {
        "204": [],
        "404": ["not_found"],
        "409": ["file_attached"],
        "503": ["storage_unavailable"],
    },
    ("/api/files/presigned-url", "post"): {"200": [], "400": ["invalid_expiry"], "404": ["not_found"]},
    ("/api/files/upload-url", "post"): {"201": [], "413": ["file_too_large"], "429": ["throttled"]},
    ("/api/files/{file_id}/complete", "post"): {
        "200": [],
        "400": ["unsupported_file_type", "document_too_complex"],
        "409": ["upload_missing"],
        "503": ["storage_unavailable"],
    },
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(("path", "method"), sorted(EXPECTED))
def test_each_operation_documents_its_error_codes(schema, path, method) -> None:
    responses = schema["paths"][path][method]["responses"]
    for status, codes in EXPECTED[(path, method)].items():
        assert status in responses, f"{method.upper()} {path} does not document {status}"
        for code in codes:
            assert f"`{code}`" in responses[status]["description"], f"{method.upper()} {path} {status}: {code}"
