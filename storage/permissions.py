"""Who may open a stored file's bytes from the back-office (the admin's short-lived signed links).

Seeing a file's record is storage.view_storedfile. Opening its bytes depends on what the file is: a document
the system made and attached to a record (an invoice PDF: `attached_type` set, only ever by the server) opens
for anyone who may see files; a file a customer uploaded opens only with storage.open_upload, which the support
group does not have (docs/security.md). A customer reaches their own files through the API, never through this.
"""

from typing import Any

from billing_site.permissions import permission_allowed

from .models import StoredFile

VIEW_PERMISSION = "storage.view_storedfile"
OPEN_UPLOAD_PERMISSION = "storage.open_upload"


def file_open_allowed(*, actor: Any, file: StoredFile) -> bool:
    """True when `actor` may open the file's bytes (None, the system, always may)."""
    if not permission_allowed(actor=actor, permission=VIEW_PERMISSION):
        return False
    return file.is_attached or permission_allowed(actor=actor, permission=OPEN_UPLOAD_PERMISSION)
