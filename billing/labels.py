"""Translatable display names of the billing and storage models: verbose names and choice labels through gettext.

The models declare plain English verbose names (and choice labels). At start-up (billing.apps.ready) each one
listed here is replaced by a lazy translation of the same English text, so the admin shows the Korean of
locale/ko/LC_MESSAGES/django.po, or English when the user picks it. Migrations never see the change: fields
deconstruct from their original verbose name, model state reads Meta's original attributes, and
makemigrations runs without an active language, where each lazy text equals its English original.
"""

from django.apps import apps
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, gettext_noop

# The English texts, marked for makemessages; the .po holds their Korean.
MODEL_NAMES = (
    gettext_noop("customer"),
    gettext_noop("customers"),
    gettext_noop("idempotency key"),
    gettext_noop("idempotency keys"),
    gettext_noop("invoice"),
    gettext_noop("invoices"),
    gettext_noop("invoice line"),
    gettext_noop("invoice lines"),
    gettext_noop("invoice number sequence"),
    gettext_noop("invoice number sequences"),
    gettext_noop("order"),
    gettext_noop("orders"),
    gettext_noop("order item"),
    gettext_noop("order items"),
    gettext_noop("payment"),
    gettext_noop("payments"),
    gettext_noop("subscription plan"),
    gettext_noop("subscription plans"),
    gettext_noop("subscription"),
    gettext_noop("subscriptions"),
    gettext_noop("subscription invoice"),
    gettext_noop("subscription invoices"),
    gettext_noop("file"),
    gettext_noop("files"),
)

FIELD_NAMES = (
    gettext_noop("ID"),
    gettext_noop("id"),
    gettext_noop("address"),
    gettext_noop("amount"),
    gettext_noop("amount paid"),
    gettext_noop("amount remaining"),
    gettext_noop("annual price"),
    gettext_noop("attached id"),
    gettext_noop("attached type"),
    gettext_noop("billing cycle anchor"),
    gettext_noop("billing period"),
    gettext_noop("business registration number"),
    gettext_noop("buyer address"),
    gettext_noop("buyer business number"),
    gettext_noop("buyer email"),
    gettext_noop("buyer name"),
    gettext_noop("cancel at period end"),
    gettext_noop("canceled at"),
    gettext_noop("cancellation reason"),
    gettext_noop("category"),
    gettext_noop("completed at"),
    gettext_noop("content type"),
    gettext_noop("created at"),
    gettext_noop("credit balance"),
    gettext_noop("currency"),
    gettext_noop("current period end"),
    gettext_noop("current period start"),
    gettext_noop("customer"),
    gettext_noop("day"),
    gettext_noop("days until due"),
    gettext_noop("deleted at"),
    gettext_noop("description"),
    gettext_noop("display name"),
    gettext_noop("display order"),
    gettext_noop("due date"),
    gettext_noop("email"),
    gettext_noop("ended at"),
    gettext_noop("expires at"),
    gettext_noop("failed at"),
    gettext_noop("failure reason"),
    gettext_noop("features"),
    gettext_noop("features en"),
    gettext_noop("finalized at"),
    gettext_noop("invoice"),
    gettext_noop("is active"),
    gettext_noop("issue date"),
    gettext_noop("key"),
    gettext_noop("language"),
    gettext_noop("last number"),
    gettext_noop("marked uncollectible at"),
    gettext_noop("max projects"),
    gettext_noop("method"),
    gettext_noop("monthly price"),
    gettext_noop("name"),
    gettext_noop("name en"),
    gettext_noop("note"),
    gettext_noop("number"),
    gettext_noop("order"),
    gettext_noop("original name"),
    gettext_noop("owner"),
    gettext_noop("paid at"),
    gettext_noop("pdf error"),
    gettext_noop("pdf file"),
    gettext_noop("pdf rendered revision"),
    gettext_noop("pdf revision"),
    gettext_noop("pdf status"),
    gettext_noop("period end"),
    gettext_noop("period start"),
    gettext_noop("plan"),
    gettext_noop("position"),
    gettext_noop("preferred language"),
    gettext_noop("price amount"),
    gettext_noop("protected"),
    gettext_noop("provider reference"),
    gettext_noop("quantity"),
    gettext_noop("reason"),
    gettext_noop("received at"),
    gettext_noop("recorded by"),
    gettext_noop("refunded at"),
    gettext_noop("replaces"),
    gettext_noop("request fingerprint"),
    gettext_noop("request method"),
    gettext_noop("request path"),
    gettext_noop("response body"),
    gettext_noop("response status"),
    gettext_noop("sha256"),
    gettext_noop("size"),
    gettext_noop("slug"),
    gettext_noop("state"),
    gettext_noop("status"),
    gettext_noop("stripe annual price id"),
    gettext_noop("stripe hosted invoice url"),
    gettext_noop("stripe invoice id"),
    gettext_noop("stripe monthly price id"),
    gettext_noop("stripe product id"),
    gettext_noop("stripe subscription id"),
    gettext_noop("subscription"),
    gettext_noop("subtotal"),
    gettext_noop("succeeded at"),
    gettext_noop("tax"),
    gettext_noop("tax treatment"),
    gettext_noop("total"),
    gettext_noop("unit amount"),
    gettext_noop("updated at"),
    gettext_noop("user"),
    gettext_noop("voided at"),
)

CHOICE_LABELS = (
    gettext_noop("Active"),
    gettext_noop("Available"),
    gettext_noop("Bank transfer"),
    gettext_noop("Canceled"),
    gettext_noop("Canceled by the customer or staff"),
    gettext_noop("Card"),
    gettext_noop("Completed"),
    gettext_noop("Document"),
    gettext_noop("Draft"),
    gettext_noop("English"),
    gettext_noop("Failed"),
    gettext_noop("First invoice not paid in time"),
    gettext_noop("First period"),
    gettext_noop("Image"),
    gettext_noop("In progress"),
    gettext_noop("Incomplete"),
    gettext_noop("Invoiced"),
    gettext_noop("No PDF (draft)"),
    gettext_noop("Open"),
    gettext_noop("Other"),
    gettext_noop("Paid"),
    gettext_noop("Past due"),
    gettext_noop("Pending"),
    gettext_noop("Pending upload"),
    gettext_noop("Ready"),
    gettext_noop("Refunded"),
    gettext_noop("Renewal"),
    gettext_noop("Replaced by another plan"),
    gettext_noop("Succeeded"),
    gettext_noop("Uncollectible"),
    gettext_noop("Video"),
    gettext_noop("Void"),
    gettext_noop("월간 (monthly)"),
    gettext_noop("연간 (annual)"),
)

TRANSLATED_APPS = ("billing", "storage")

_KNOWN = frozenset(MODEL_NAMES) | frozenset(FIELD_NAMES) | frozenset(CHOICE_LABELS)


def _lazy(text: object) -> object:
    """The lazy translation of a listed English text; anything else as it is.

    Django's default plural ("{verbose_name}s") is itself lazy: its English form is what gets looked up.
    """
    if isinstance(text, Promise):
        with translation.override(None):
            text = str(text)
    return gettext_lazy(text) if isinstance(text, str) and text in _KNOWN else text


APP_NAMES = (gettext_noop("Billing"), gettext_noop("Files"))


def verbose_names_translate() -> None:
    """Make the listed verbose names and choice labels of the billing and storage models translatable."""
    for app_label in TRANSLATED_APPS:
        app_config = apps.get_app_config(app_label)
        if isinstance(app_config.verbose_name, str) and app_config.verbose_name in APP_NAMES:
            app_config.verbose_name = gettext_lazy(app_config.verbose_name)
        for model in apps.get_app_config(app_label).get_models():
            options = model._meta
            options.verbose_name = _lazy(options.verbose_name)
            options.verbose_name_plural = _lazy(options.verbose_name_plural)
            for field in options.get_fields():
                if not field.concrete:
                    continue
                field.verbose_name = _lazy(field.verbose_name)
                if field.choices:
                    field.choices = [(value, _lazy(label)) for value, label in field.choices]
