"""Serves files of the local filesystem backend behind signed, expiring URLs."""

import mimetypes

from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from billing_site.api.errors import error_body

from .backends import SignedFileSystemStorage, signed_payload_load


@require_GET
def signed_download(request: HttpRequest, token: str) -> HttpResponse:
    if not isinstance(default_storage, SignedFileSystemStorage):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    try:
        payload = signed_payload_load(token)
    except signing.SignatureExpired:
        return JsonResponse(error_body("link_expired", "This download link has expired."), status=403)
    except (signing.BadSignature, KeyError, ValueError, TypeError):
        return JsonResponse(error_body("invalid_signature", "This download link is not valid."), status=403)
    name = payload["k"]
    if not default_storage.exists(name):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    content_type = payload.get("t") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    if payload.get("d"):
        response["Content-Disposition"] = payload["d"]
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
