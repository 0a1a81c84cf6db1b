"""Account writes: registering a user, changing a password and ending sessions."""

import logging

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from billing_site.errors import ApplicationError

from .lockout import account_locked_error, is_locked_out

logger = logging.getLogger(__name__)


def _password_validate(password: str, *, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as error:
        raise ApplicationError(
            "weak_password", " ".join(error.messages), fields={field: list(error.messages)}
        ) from error


@transaction.atomic
def user_register(*, username: str, email: str, password: str) -> User:
    """Create a customer account; the password must satisfy Django's validators.

    Whether an email address is registered is never revealed: an address that already belongs to an account is
    not attached to the new one (it has no email until staff set one), and the caller cannot tell, as the API
    answers with the submitted address either way. Usernames are login names and stay unique: a taken one is 409.
    """
    user_model = get_user_model()
    candidate = user_model(username=username, email=email)
    _password_validate(password, user=candidate, field="password")
    if user_model.objects.filter(username__iexact=username).exists():
        raise ApplicationError(
            "username_taken",
            "That username is taken.",
            fields={"username": ["That username is taken."]},
            status_code=409,
        )
    if email and user_model.objects.filter(email__iexact=email).exists():
        logger.info(
            "registration of %r with an email address another account has: the address is not attached", username
        )
        candidate.email = ""
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError as error:  # a concurrent registration took the name first
        raise ApplicationError("username_taken", "That username is taken.", status_code=409) from error
    return candidate


def tokens_issue(*, user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def user_logout(*, user: User, refresh: str) -> None:
    """Blacklist the caller's refresh token so it can never mint access tokens again."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # simplejwt annotates Token, takes the encoded str
    except TokenError as error:
        raise ApplicationError("token_not_valid", "The refresh token is invalid or expired.") from error
    if str(token.get("user_id")) != str(user.pk):
        raise ApplicationError("token_not_valid", "The refresh token is invalid or expired.")
    token.blacklist()


def user_password_change(*, user: User, old_password: str, new_password: str, request: HttpRequest | Request) -> User:
    """Change the caller's password and end every session it had: all outstanding refresh tokens are blacklisted.

    The old password is checked through `authenticate`, outside any transaction, so a wrong one counts as a
    failed login (django-axes) and a locked-out account cannot guess on here either. Access tokens issued before
    die too: they carry a hash of the old password hash (SIMPLE_JWT["CHECK_REVOKE_TOKEN"]).
    """
    user_model = get_user_model()
    checked = authenticate(request, username=user.get_username(), password=old_password)
    if is_locked_out(request):
        raise account_locked_error()
    if checked is None or checked.pk != user.pk:
        raise ApplicationError(
            "wrong_password",
            "The current password is not correct.",
            fields={"old_password": ["The current password is not correct."]},
        )
    # Only now a transaction: the failed attempt django-axes recorded above must outlive the refusal.
    with transaction.atomic():
        locked = user_model.objects.select_for_update().get(pk=user.pk)
        _password_validate(new_password, user=locked, field="new_password")
        locked.set_password(new_password)
        locked.save(update_fields=["password"])
        user_tokens_revoke(user=locked)
    return locked


def user_tokens_revoke(*, user: User) -> int:
    """Blacklist every refresh token of the user that has not expired yet; returns how many."""
    outstanding = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(revoked)
