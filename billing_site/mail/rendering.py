"""Emails from templates: `<base>.txt` and `<base>.html` in the active language, inside the shared layout."""

from typing import Any

from django.template.loader import select_template
from django.utils import translation

from .registry import Attachment, RenderedEmail


def templates_render(
    *, template_base: str, subject: str, context: dict[str, Any], attachments: tuple[Attachment, ...] = ()
) -> RenderedEmail:
    """Render `<template_base>.<lang>.txt` and `.html` (falling back to Korean) with `context`.

    The HTML templates extend `mail/layout.html`, which carries the inline styles (Gmail and Naver Mail drop
    <style> blocks and external sheets, so every rule sits on its element).
    """
    language = (translation.get_language() or "ko")[:2]
    full_context = {"subject": subject, "language": language, **context}
    names = {
        extension: [f"{template_base}.{language}.{extension}", f"{template_base}.ko.{extension}"]
        for extension in ("txt", "html")
    }
    text = select_template(names["txt"]).render(full_context)
    html = select_template(names["html"]).render(full_context)
    return RenderedEmail(subject=subject, text=text.strip() + "\n", html=html, attachments=attachments)
