"""manage.py billing_render_pdfs: render and store every invoice and credit note PDF left pending (e.g. while
storage was down)."""

from collections.abc import Callable
from typing import Any

from django.core.management import BaseCommand, CommandParser
from tqdm import tqdm

from billing.models import CreditNote, Invoice
from billing.selectors.invoices import invoices_pdf_pending
from billing.services.credit_note_pdf import (
    credit_note_pdf_failure_record,
    credit_note_pdf_render,
    credit_notes_pdf_pending_ids,
)
from billing.services.pdf import invoice_pdf_failure_record, invoice_pdf_render


class Command(BaseCommand):
    help = (
        "Render the PDF of every invoice and credit note whose current revision is not stored yet. Idempotent: "
        "a second run finds nothing to do. Exits with status 1 if some PDFs could not be stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Render at most this many of each kind.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs and cron).")

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["limit"]
        pending = invoices_pdf_pending().values_list("pk", flat=True)
        invoice_ids = list(pending[:limit] if limit else pending)
        credit_note_ids = credit_notes_pdf_pending_ids()[:limit] if limit else credit_notes_pdf_pending_ids()
        failed = self._render(
            "invoice",
            invoice_ids,
            render=lambda pk: invoice_pdf_render(invoice=Invoice(pk=pk)).pdf_status,
            failure_record=lambda pk, error: invoice_pdf_failure_record(invoice_id=pk, error=error),
            progress=not options["no_progress"],
        )
        failed += self._render(
            "credit note",
            credit_note_ids,
            render=lambda pk: credit_note_pdf_render(credit_note=CreditNote(pk=pk)).pdf_status,
            failure_record=lambda pk, error: credit_note_pdf_failure_record(credit_note_id=pk, error=error),
            progress=not options["no_progress"],
        )
        if failed:
            self.stderr.write(
                self.style.ERROR(f"{len(failed)} PDF(s) still pending ({', '.join(failed[:20])}); see pdf_error.")
            )
            raise SystemExit(1)

    def _render(
        self,
        kind: str,
        ids: list[int],
        *,
        render: Callable[[int], str],
        failure_record: Callable[[int, Exception], None],
        progress: bool,
    ) -> list[str]:
        """Render each pending PDF of one kind of document; those that stay pending ("invoice 12")."""
        if not ids:
            self.stdout.write(f"No pending {kind} PDFs.")
            return []
        rendered, failed = 0, []
        bar = tqdm(ids, desc=f"{kind.capitalize()} PDFs", unit="pdf", disable=not progress, file=self.stderr)
        for pk in bar:
            try:
                status = render(pk)
            except Exception as error:
                failure_record(pk, error)
                failed.append(f"{kind} {pk}")
                continue
            if status == "ready":
                rendered += 1
        self.stdout.write(self.style.SUCCESS(f"Rendered {rendered} {kind} PDF(s)."))
        return failed
