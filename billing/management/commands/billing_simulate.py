"""What the billing rules would do to one customer over the coming months, printed as a timeline; writes nothing."""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.money import money_format
from billing.services.simulation import MAX_MONTHS, PAY_CHOICES, EventKind, TimelineEvent, billing_simulate
from billing_site.errors import ApplicationError

EVENT_LABELS = {
    EventKind.INVOICE_ISSUED: "invoice issued",
    EventKind.PAYMENT: "payment",
    EventKind.INVOICE_STATUS: "invoice",
    EventKind.SUBSCRIPTION_STATUS: "subscription",
    EventKind.SUBSCRIPTION_CHANGE: "subscription",
    EventKind.DUNNING_STEP: "dunning",
    EventKind.EMAIL: "email queued",
    EventKind.FAILURE: "FAILED",
}


def _money(amount: int, currency: str) -> str:
    return money_format(amount=amount, currency=currency) if currency else ""


def _describe(event: TimelineEvent) -> tuple[str, str, str]:
    """(what, amount, detail) of one row."""
    if event.kind == EventKind.INVOICE_ISSUED:
        taxes = f"subtotal {_money(event.amount, event.currency)} + VAT {_money(event.tax, event.currency)}"
        return event.invoice_number, _money(event.total, event.currency), f"{event.detail}; {taxes}".strip("; ")
    if event.kind == EventKind.PAYMENT:
        return event.invoice_number, _money(event.amount, event.currency), f"{event.detail}, {event.after}"
    if event.kind == EventKind.INVOICE_STATUS:
        return event.invoice_number, _money(event.total, event.currency), f"{event.before} -> {event.after}"
    if event.kind == EventKind.SUBSCRIPTION_STATUS:
        reason = f" ({event.detail})" if event.detail else ""
        return f"#{event.subscription_id}", "", f"{event.before} -> {event.after}{reason}"
    if event.kind == EventKind.SUBSCRIPTION_CHANGE:
        return f"#{event.subscription_id}", "", f"{event.detail}: {event.before} -> {event.after}"
    if event.kind == EventKind.DUNNING_STEP:
        return event.invoice_number, _money(event.total, event.currency), f"{event.after}, {event.detail}"
    if event.kind == EventKind.EMAIL:
        return event.email_kind, "", event.detail
    return "", "", event.detail


class Command(BaseCommand):
    help = (
        "Print what the billing rules would do to one customer over the next months (renewals, invoices and their "
        "amounts, payments, statuses, dunning, emails), day by day from --as-of. Runs the real services in a "
        "transaction that is always rolled back: nothing is written and no email is sent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customer", type=int, required=True, help="The customer's id.")
        parser.add_argument("--months", type=int, required=True, help=f"How many months, 1 to {MAX_MONTHS}.")
        parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="First day, YYYY-MM-DD (Seoul).")
        parser.add_argument(
            "--pay",
            choices=PAY_CHOICES,
            default="on_time",
            help="on_time: each invoice is paid by transfer the day it is issued; never: nothing is paid.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["months"] <= MAX_MONTHS:
            raise CommandError(f"--months must be from 1 to {MAX_MONTHS}.")
        try:
            timeline = billing_simulate(
                customer_id=options["customer"], months=options["months"], as_of=options["as_of"], pay=options["pay"]
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"Customer {timeline.customer_id}, {timeline.as_of} to {timeline.until} (excluded), payments: "
            f"{timeline.pay}. Simulated: nothing was written."
        )
        rows = [("Day", "Event", "What", "Amount", "Detail")]
        rows += [(event.day.isoformat(), EVENT_LABELS[event.kind], *_describe(event)) for event in timeline.events]
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        for index, row in enumerate(rows):
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
            cells += [row[3].rjust(widths[3]), row[4]]
            self.stdout.write("  ".join(cells).rstrip())
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths) + "  ------")
        if len(rows) == 1:
            self.stdout.write("(nothing happens)")
        final = timeline.subscription
        if final is not None:
            self.stdout.write(
                f"At the end: subscription #{final.id} {final.status}, {final.plan} {final.billing_period} x"
                f"{final.quantity}, period {final.current_period_start} to {final.current_period_end}"
                + (", cancels at period end" if final.cancel_at_period_end else "")
            )
        invoiced = sum(invoice.total for invoice in timeline.invoices)
        paid = sum(invoice.amount_paid for invoice in timeline.invoices)
        currency = timeline.invoices[0].currency if timeline.invoices else ""
        if currency:
            self.stdout.write(
                f"Invoiced {_money(invoiced, currency)} in {len(timeline.invoices)} invoice(s), "
                f"paid {_money(paid, currency)}."
            )
        failures = timeline.of_kind(EventKind.FAILURE)
        if failures:
            raise CommandError(f"{len(failures)} step(s) failed in the simulation (see the timeline).")
