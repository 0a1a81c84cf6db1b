"""The local backend's signed URLs: downloads that expire, and the direct-upload form mirroring S3's POST."""

import mimetypes
from typing import cast

from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from billing_site.api.errors import error_body
from billing_site.errors import ApplicationError

from .backends import SignedFileSystemStorage, signed_payload_load, signed_upload_payload_load
from .selectors import file_upload_open
from .upload_handlers import limited_upload_handlers


@require_GET
def signed_download(request: HttpRequest, token: str) -> HttpResponseBase:
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


@csrf_exempt
@require_POST
def signed_upload(request: HttpRequest) -> HttpResponse:
    """The local backend's counterpart of S3's presigned POST: form fields `token`, `Content-Type`, then `file`.

    Like S3 it answers 204 on success and refuses an expired or tampered form, a different content type,
    an existing key and a file over the form's size limit. Unlike S3 it also refuses (409 `upload_closed`)
    the form of an upload that was completed, refused or purged.
    """
    if not isinstance(default_storage, SignedFileSystemStorage):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    request.upload_handlers = limited_upload_handlers(request)
    try:
        upload = request.FILES.get("file")
        token = request.POST.get("token", "")
    except ApplicationError as error:
        return JsonResponse(error_body(error.code, error.message, error.fields), status=error.status_code)
    try:
        payload = signed_upload_payload_load(token)
    except signing.SignatureExpired:
        return JsonResponse(error_body("link_expired", "This upload form has expired."), status=403)
    except (signing.BadSignature, KeyError, ValueError, TypeError):
        return JsonResponse(error_body("invalid_signature", "This upload form is not valid."), status=403)
    if upload is None:
        return JsonResponse(error_body("file_required", "Send the file as field `file`."), status=400)
    if request.POST.get("Content-Type") != payload["t"]:
        return JsonResponse(error_body("invalid_signature", "The content type differs from the form's."), status=403)
    if not file_upload_open(key=payload["k"]):
        # The upload was completed (its bytes copied and checked), refused or purged: the form is spent.
        return JsonResponse(error_body("upload_closed", "This upload was completed or removed."), status=409)
    # An upload the handlers received always has its size.
    if cast(int, upload.size) > int(payload["m"]):
        return JsonResponse(error_body("file_too_large", "The file is larger than the form allows."), status=413)
    if default_storage.exists(payload["k"]):
        return JsonResponse(error_body("already_uploaded", "A file was already uploaded with this form."), status=409)
    default_storage.save(payload["k"], upload)
    return HttpResponse(status=204)
