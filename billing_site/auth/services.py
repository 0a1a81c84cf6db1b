"""Account writes: registering a user and ending a session."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from billing_site.errors import ApplicationError


@transaction.atomic
def user_register(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """Create a customer account; the password must satisfy Django's validators."""
    user_model = get_user_model()
    candidate = user_model(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as error:
        raise ApplicationError(
            "weak_password", " ".join(error.messages), fields={"password": list(error.messages)}
        ) from error
    if user_model.objects.filter(username__iexact=username).exists():
        raise ApplicationError(
            "username_taken",
            "That username is taken.",
            fields={"username": ["That username is taken."]},
            status_code=409,
        )
    if email and user_model.objects.filter(email__iexact=email).exists():
        raise ApplicationError(
            "email_taken",
            "That email is already registered.",
            fields={"email": ["Already registered."]},
            status_code=409,
        )
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError as error:  # a concurrent registration took the name first
        raise ApplicationError("username_taken", "That username is taken.", status_code=409) from error
    return candidate


def tokens_issue(*, user: AbstractBaseUser) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def user_logout(*, user: AbstractBaseUser, refresh: str) -> None:
    """Blacklist the caller's refresh token so it can never mint access tokens again."""
    try:
        token = RefreshToken(refresh)
    except TokenError as error:
        raise ApplicationError("token_not_valid", "The refresh token is invalid or expired.") from error
    if str(token.get("user_id")) != str(user.pk):
        raise ApplicationError("token_not_valid", "The refresh token is invalid or expired.")
    token.blacklist()
