"""Account writes: registering a user, changing or resetting a password and ending sessions."""

import logging
from datetime import datetime

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from billing_site.errors import ApplicationError
from billing_site.mail.services import email_queue

from .lockout import account_locked_error, is_locked_out

logger = logging.getLogger(__name__)

# The kind of the reset email (its renderer is in billing_site/emails.py).
PASSWORD_RESET_EMAIL = "auth.password_reset"  # noqa: S105 (an email kind, not a password)
# One reset email per account and quarter of an hour, however often it is asked for (the Email unique key).
PASSWORD_RESET_EMAIL_WINDOW_SECONDS = 15 * 60
# Longer than any uid or token we hand out (a uid encodes a primary key; Django's tokens are about 40 characters).
PASSWORD_RESET_MAX_LENGTH = 64


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


def password_reset_request(*, email: str, now: datetime | None = None) -> int:
    """Email a reset link to each active account with this address (case-insensitive); returns how many were queued.

    The caller learns nothing from it: the API answers the same whether any account matched. One email per
    account and PASSWORD_RESET_EMAIL_WINDOW_SECONDS: asking again within the window finds the same Email row and
    sends nothing more. The link and its token are made when the email is sent (billing_site/emails.py), never
    stored. An account without a usable password (staff-created, unusable on purpose) gets nothing either.
    """
    window = str(int((now or timezone.now()).timestamp()) // PASSWORD_RESET_EMAIL_WINDOW_SECONDS)
    language = (translation.get_language() or "ko")[:2]
    if language not in ("ko", "en"):
        language = "ko"
    queued = 0
    with transaction.atomic():
        for user in get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk"):
            if not user.has_usable_password():
                continue
            if email_queue(
                kind=PASSWORD_RESET_EMAIL,
                object_type="auth.user",
                object_id=user.pk,
                to=user.email,  # the account's stored address, never the request's spelling of it
                user=user,
                language=language,
                occurrence=window,
            ):
                queued += 1
    return queued


def _invalid_reset_token() -> ApplicationError:
    # One answer for every way a uid or token can be wrong: it must not say which part, nor whether the account exists.
    return ApplicationError("invalid_token", "The password reset link is invalid or has expired.")


def _reset_user(uid: str) -> User | None:
    """The account a reset link's uid names (urlsafe base64 of the primary key), or None for anything else."""
    if not uid or len(uid) > PASSWORD_RESET_MAX_LENGTH:
        return None
    try:
        decoded = force_str(urlsafe_base64_decode(uid))
    except (ValueError, UnicodeDecodeError):
        return None
    if not decoded.isascii() or not decoded.isdigit() or len(decoded) > 18:  # a primary key, within bigint
        return None
    return get_user_model().objects.filter(pk=int(decoded), is_active=True).first()


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Set a new password with the uid and token of a reset email, and end every session the account had.

    Django's token generator signs the password hash and the last login into the token, so a token works once:
    the new password invalidates it (and every other reset link sent before). A wrong, expired or used uid or
    token is 400 `invalid_token`; a new password that fails the validators is 400 `weak_password` and changes
    nothing, the link keeps working. Refresh tokens are blacklisted; access tokens die by CHECK_REVOKE_TOKEN.
    """
    if len(token) > PASSWORD_RESET_MAX_LENGTH:
        raise _invalid_reset_token()
    user = _reset_user(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise _invalid_reset_token()
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        # Checked again under the lock: of two confirmations racing with the same token, only one may pass.
        if not locked.is_active or not default_token_generator.check_token(locked, token):
            raise _invalid_reset_token()
        _password_validate(new_password, user=locked, field="new_password")
        locked.set_password(new_password)
        locked.save(update_fields=["password"])
        revoked = user_tokens_revoke(user=locked)
    logger.info("password of user %s reset with an emailed link; %s refresh tokens revoked", locked.pk, revoked)
    return locked
