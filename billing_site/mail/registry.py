"""Which function writes each kind of email: apps register renderers in their `emails` module."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

from django.apps import apps

if TYPE_CHECKING:
    from .models import Email


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


@dataclass(frozen=True)
class RenderedEmail:
    """A message ready to send: subject, plain text, HTML, attachments."""

    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


class EmailSkip(Exception):
    """Raised by a renderer when the email no longer makes sense (its object is gone or moved on)."""


Renderer = Callable[["Email"], RenderedEmail]

_PREVIEW: ContextVar[bool] = ContextVar("email_rendering_preview", default=False)


def rendering_preview() -> bool:
    """True while an email is rendered for a person to look at (the admin), not to be sent: a renderer then
    makes no secret (a reset token), no file and no signed link, and leaves attachments as their names."""
    return _PREVIEW.get()


@contextmanager
def preview_rendering() -> Iterator[None]:
    token = _PREVIEW.set(True)
    try:
        yield
    finally:
        _PREVIEW.reset(token)


_RENDERERS: dict[str, Renderer] = {}


def email_renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Register `renderer(email) -> RenderedEmail` for emails of `kind`. It runs in the worker, at send time, in
    the email's language; it reads the object fresh, so it must not assume anything about the moment of the event
    beyond what `email.context` carries."""

    def register(renderer: Renderer) -> Renderer:
        _RENDERERS[kind] = renderer
        return renderer

    return register


def email_renderer_get(kind: str) -> Renderer | None:
    return _RENDERERS.get(kind)


def email_kinds() -> list[str]:
    return sorted(_RENDERERS)


def renderers_autodiscover() -> None:
    """Import `<app>.emails` of every installed app, which registers its renderers."""
    for config in apps.get_app_configs():
        try:
            import_module(f"{config.name}.emails")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.emails":
                raise
