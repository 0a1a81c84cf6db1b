"""Who may run a staff operation: the Django model permission of the acting user, checked inside the service.

Services that only some people may run take `actor` and call `permission_require` before they read or change
anything, so the API, the admin and management commands cannot disagree. `actor` None is the system itself
(webhooks, renewals, commands that run without a user) and is always allowed. `is_staff` plays no part: it only
lets a user log in to the admin site; what they may do there, or through the API, is their permissions
(docs/security.md has the whole matrix).
"""

from typing import Any

from billing_site.errors import ApplicationError


def permission_allowed(*, actor: Any, permission: str) -> bool:
    """True for the system (None) and for an active user holding `permission` ("app_label.codename")."""
    if actor is None:
        return True
    return bool(getattr(actor, "is_active", False) and actor.has_perm(permission))


def permission_require(*, actor: Any, permission: str) -> None:
    """Refuse (403 `permission_denied`) an actor without `permission`; None, the system, always passes."""
    if not permission_allowed(actor=actor, permission=permission):
        raise ApplicationError(
            "permission_denied",
            f"You do not have the permission this action needs ({permission}).",
            status_code=403,
        )
