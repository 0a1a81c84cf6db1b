"""manage.py billing_render_pdfs: render and store every invoice PDF left pending (e.g. while storage was down)."""

from typing import Any

from django.core.management import BaseCommand, CommandParser
from tqdm import tqdm

from billing.selectors.invoices import invoices_pdf_pending
from billing.services.pdf import invoice_pdf_failure_record, invoice_pdf_render


class Command(BaseCommand):
    help = (
        "Render the PDF of every invoice whose current revision is not stored yet. Idempotent: "
        "a second run finds nothing to do. Exits with status 1 if some PDFs could not be stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Render at most this many.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs and cron).")

    def handle(self, *args: Any, **options: Any) -> None:
        pending = invoices_pdf_pending().values_list("pk", flat=True)
        if options["limit"]:
            pending = pending[: options["limit"]]
        invoice_ids = list(pending)
        if not invoice_ids:
            self.stdout.write("No pending invoice PDFs.")
            return
        rendered, failed = 0, []
        bar = tqdm(invoice_ids, desc="Invoice PDFs", unit="pdf", disable=options["no_progress"], file=self.stderr)
        for invoice_id in bar:
            try:
                invoice = invoice_pdf_render(invoice=_stub(invoice_id))
            except Exception as error:
                invoice_pdf_failure_record(invoice_id=invoice_id, error=error)
                failed.append(invoice_id)
                continue
            if invoice.pdf_status == "ready":
                rendered += 1
        self.stdout.write(self.style.SUCCESS(f"Rendered {rendered} invoice PDF(s)."))
        if failed:
            self.stderr.write(
                self.style.ERROR(f"{len(failed)} PDF(s) still pending (ids {failed[:20]}); see pdf_error.")
            )
            raise SystemExit(1)


def _stub(invoice_id: int) -> Any:
    from billing.models import Invoice

    return Invoice(pk=invoice_id)
