"""Server-to-server API keys in the admin: create one (the whole key is shown once, on the page answering the
save; the same add form sent again makes no second key), list them with their prefix, scopes, status and last use,
and revoke them. Every write goes through billing.services.api_keys, which checks the permission; nothing here
edits or deletes a key.
"""

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from billing.enums import ApiKeyScope
from billing.models import ApiKey
from billing.services.api_keys import api_key_create, api_key_revoke
from billing_site.errors import ApplicationError

from .common import EMPTY, report_each, seoul_column

# The form's fields as the service names them; a refusal naming one shows on it.
SERVICE_FIELDS = ("name", "scopes", "expires_at")
# Session entry: the add forms' one-time tokens that made a key, each with that key's id (never the key itself).
SUBMISSIONS_SESSION_KEY = "billing_apikey_submissions"
# Enough for every add page a person keeps open at once; the oldest token is forgotten first.
SUBMISSIONS_KEPT = 20


class _DryRun(Exception):
    pass


class ApiKeyCreateForm(forms.ModelForm):
    """A new key: `api_key_create` checks it with the form (a refusal shows on its field) and makes it on save."""

    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        label=_("scopes"),
        help_text=_("What the key may do. Choose at least one."),
    )
    # One per add page: refreshing the page answering the save sends it again, and it has made its key already.
    submission = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expires_at"]
        help_texts = {"expires_at": _("Optional. Leave empty for a key that does not expire.")}

    actor: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        # The service runs in a savepoint that is always rolled back, so its refusal shows on the form; the
        # admin's save then runs it for real.
        try:
            with transaction.atomic():
                self.create(actor=self.actor)
                raise _DryRun
        except _DryRun:
            pass
        except ApplicationError as error:
            if not error.fields:
                self.add_error(None, error.message)
            for name, field_messages in error.fields.items():
                self.add_error(name if name in SERVICE_FIELDS else None, field_messages)
        return cleaned

    def create(self, *, actor: Any) -> tuple[ApiKey, str]:
        return api_key_create(
            name=self.cleaned_data.get("name") or "",
            scopes=list(self.cleaned_data.get("scopes") or []),
            expires_at=self.cleaned_data.get("expires_at"),
            actor=actor,
        )


def api_key_status(api_key: ApiKey) -> str:
    if api_key.revoked_at is not None:
        return pgettext("api key status", "Revoked")
    if not api_key.is_usable(now=timezone.now()):
        return pgettext("api key status", "Expired")
    return pgettext("api key status", "Active")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyCreateForm
    list_display = ["name", "prefix", "scopes_text", "status", "last_used", "expires", "created"]
    search_fields = ["name", "prefix"]
    ordering = ["-created_at", "-id"]
    actions = ["revoke_selected"]
    readonly_fields = [
        "name",
        "prefix",
        "scopes_text",
        "status",
        "created_by",
        "created",
        "expires",
        "revoked",
        "revoked_by",
        "last_used",
    ]
    list_select_related = ["created_by"]
    created = seoul_column("created_at", _("created at"), ordering="created_at")
    expires = seoul_column("expires_at", _("expires at"), ordering="expires_at")
    revoked = seoul_column("revoked_at", _("revoked at"), ordering="revoked_at")
    last_used = seoul_column("last_used_at", _("last used at"), ordering="last_used_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "scopes", "expires_at", "submission")
        return tuple(self.readonly_fields)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "submission": secrets.token_urlsafe(16)}

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """An add form sent again (the created page refreshed, the browser's back and resubmit) makes no second key:
        it leads to the key it made, whose whole key was shown once and cannot be shown again."""
        if request.method == "POST" and self.has_add_permission(request):
            made = request.session.get(SUBMISSIONS_SESSION_KEY, {}).get(request.POST.get("submission") or "")
            api_key = ApiKey.objects.filter(pk=made).first() if made is not None else None
            if api_key is not None:
                messages.warning(
                    request,
                    gettext(
                        "This form was already sent: it created the API key %(name)s (%(prefix)s), whose whole key "
                        "was shown only once. No other key was created."
                    )
                    % {"name": api_key.name, "prefix": api_key.prefix},
                )
                return HttpResponseRedirect(reverse("admin:billing_apikey_change", args=[api_key.pk]))
        return super().add_view(request, form_url, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else tuple(self.readonly_fields)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class: Any = super().get_form(request, obj, change=change, **kwargs)
        form_class.actor = request.user
        return form_class

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key's name, scopes and secret are fixed at creation; revoke it and make another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay, so staff can still tell what a prefix in an old log was

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        """A new key through `api_key_create` (checked with the form); the whole key goes only to response_add."""
        if change:
            return
        api_key, key = form.create(actor=request.user)
        obj.__dict__.update(api_key.__dict__)
        submission = form.cleaned_data.get("submission")
        if submission:
            made = dict(request.session.get(SUBMISSIONS_SESSION_KEY, {}))
            made[submission] = api_key.pk
            request.session[SUBMISSIONS_SESSION_KEY] = dict(list(made.items())[-SUBMISSIONS_KEPT:])
        # Kept on the request object for this response only: never stored, logged or put in a session.
        request._api_key_created = key  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """The page answering the save shows the whole key once, in a message rendered right here (a redirect
        would carry it in the messages cookie or session to the next page)."""
        key = getattr(request, "_api_key_created", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        messages.success(
            request,
            format_html(
                "{}<br><code class='billing-api-key'>{}</code>",
                gettext("The API key %(name)s was created. Copy it now: it will not be shown again.")
                % {"name": obj.name},
                key,
            ),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("API key created"),
            "api_key": obj,
            "changelist_url": reverse("admin:billing_apikey_changelist"),
        }
        # The admin's views send Cache-Control: no-store (never_cache), so no cache keeps this page either.
        return TemplateResponse(request, "admin/billing/apikey/created.html", context)

    @admin.display(description=_("scopes"))
    def scopes_text(self, api_key: ApiKey) -> str:
        labels = dict(ApiKeyScope.choices)
        return ", ".join(f"{scope} ({labels.get(scope, scope)})" for scope in api_key.scopes) or EMPTY

    @admin.display(description=_("status"))
    def status(self, api_key: ApiKey) -> str:
        return api_key_status(api_key)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.change_apikey"))

    @admin.action(description=_("Revoke selected API keys"), permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        report_each(
            request,
            self,
            queryset,
            operation=lambda api_key: api_key_revoke(api_key_id=api_key.pk, actor=request.user),
            success=gettext("{object}: revoked."),
        )
