"""billing_site's emails: the password reset link (kind `auth.password_reset`), rendered when it is sent."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing_site.auth.services import PASSWORD_RESET_EMAIL
from billing_site.mail.models import Email
from billing_site.mail.registry import EmailSkip, RenderedEmail, email_renderer, rendering_preview
from billing_site.mail.rendering import templates_render

# The subject per language, with the seller's name (templates hold the rest; the catalogue is not needed to send).
SUBJECTS = {"ko": "[{name}] 비밀번호 재설정 안내", "en": "[{name}] Reset your password"}


@email_renderer(PASSWORD_RESET_EMAIL)
def password_reset(email: Email) -> RenderedEmail:
    """The link that resets the account's password, with a token made now: it is never stored, and it stops
    working after PASSWORD_RESET_TIMEOUT, once used, or once the account logs in or changes its password."""
    user = get_user_model().objects.filter(pk=email.object_id).first()
    if user is None or not user.is_active or not user.has_usable_password():
        raise EmailSkip("The account is gone, inactive or has no usable password.")
    if user.email.lower() != email.to_address.lower():
        # The account's address changed since the request: the link goes to the address it has now, or nowhere.
        raise EmailSkip("The account's email address changed since the reset was asked for.")
    language = (translation.get_language() or "ko")[:2]
    language = language if language in SUBJECTS else "ko"
    seller = dict(settings.BILLING_SELLER)
    if rendering_preview():
        # Staff who may read emails must not get a working link to anyone's account.
        reset_url = settings.PASSWORD_RESET_URL.replace("{uid}", "…").replace("{token}", "…")
    else:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        reset_url = settings.PASSWORD_RESET_URL.replace("{uid}", uid).replace("{token}", token)
    context: dict[str, Any] = {
        "seller": seller,
        "username": user.get_username(),
        "reset_url": reset_url,
        "valid_minutes": max(settings.PASSWORD_RESET_TIMEOUT // 60, 1),
    }
    return templates_render(
        template_base="auth/emails/password_reset",
        subject=SUBJECTS[language].format(name=seller["name_en" if language == "en" else "name"]),
        context=context,
    )
