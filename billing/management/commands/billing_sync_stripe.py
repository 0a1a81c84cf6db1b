"""Pulls Stripe back through dj-stripe and repairs our records (missed webhooks); reports what it changed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing.models import Invoice
from billing.providers import PaymentProvider, payment_provider
from billing.services.provider_sync import provider_resync
from billing_site.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Sync the plans to Stripe, pull products, prices, customers, subscriptions and invoices back through "
        "dj-stripe, and every refund, and make our subscriptions, invoices and refunds follow them (the fix for "
        "missed webhooks). "
        "--invoice NUMBER makes the Stripe copy of an invoice issued while Stripe was unreachable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--invoice", action="append", default=[], metavar="NUMBER", help="Only create this invoice's Stripe copy."
        )
        parser.add_argument("--plans-only", action="store_true", help="Only sync the plans to Stripe.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args: Any, **options: Any) -> None:
        provider = payment_provider()
        if not provider.mirrors:
            raise CommandError("Stripe is off (STRIPE_SECRET_KEY is not set): nothing to sync.")
        try:
            if options["invoice"]:
                self._invoices(provider, options["invoice"])
            elif options["plans_only"]:
                self._plans(provider, no_progress=options["no_progress"])
            else:
                self._resync(no_progress=options["no_progress"])
        except ApplicationError as error:
            raise CommandError(error.message) from error

    def _invoices(self, provider: PaymentProvider, numbers: list[str]) -> None:
        for number in numbers:
            invoice = Invoice.objects.filter(number=number).first()
            if invoice is None:
                raise CommandError(f"No invoice {number}.")
            had = invoice.stripe_invoice_id
            invoice = provider.invoice_mirror(invoice=invoice)
            if had:
                self.stdout.write(f"  = {number}: already in Stripe as {had}")
            elif invoice.stripe_invoice_id:
                self.stdout.write(
                    f"  + {number}: Stripe invoice {invoice.stripe_invoice_id} {invoice.stripe_hosted_invoice_url}"
                )
            else:
                self.stdout.write(f"  - {number}: {invoice.status}, nothing to collect")

    def _plans(self, provider: PaymentProvider, *, no_progress: bool) -> None:
        with tqdm(unit="plan", desc="plans", disable=no_progress or None, file=self.stderr._out) as progress:
            report = provider.plans_sync(on_progress=lambda slug: progress.update(1))
        for change in report.changes:
            self.stdout.write(f"  ~ {change}")
        self.stdout.write(self.style.SUCCESS(f"{report.plans} plan(s), {len(report.changes)} change(s) in Stripe."))

    def _resync(self, *, no_progress: bool) -> None:
        bar = tqdm(unit="object", disable=no_progress or None, file=self.stderr._out)

        def step(name: str, total: int) -> None:
            bar.reset(total=total)
            bar.set_description(name)

        with bar:
            report = provider_resync(on_step=step, on_progress=lambda: bar.update(1))
        pulled = ", ".join(f"{count} {name}" for name, count in report.pulled.items())
        self.stdout.write(f"Pulled from Stripe: {pulled}.")
        for change in report.changes:
            self.stdout.write(f"  ~ {change}")
        for failure in report.failures:
            self.stdout.write(self.style.ERROR(f"  ! {failure}"))
        summary = f"{len(report.changes)} change(s), {len(report.failures)} failure(s)."
        if report.failures:
            self.stdout.write(self.style.WARNING(f"Done with failures: {summary}"))
        elif report.changed:
            self.stdout.write(self.style.SUCCESS(f"Repaired: {summary}"))
        else:
            self.stdout.write(self.style.SUCCESS("Everything already agrees with Stripe: no changes."))
