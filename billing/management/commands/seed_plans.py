"""Loads the plans from the versioned plan file (billing/plans.yaml by default) into the database."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing.providers import payment_provider
from billing.services.plans import PLAN_FILE, PlanChange, PlanFileError, plan_file_load, plans_sync
from billing_site.errors import ApplicationError


def _value(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} lines]"
    return "unlimited" if value is None else repr(value)


class Command(BaseCommand):
    help = (
        "Create or update plans by slug from a plan file (default billing/plans.yaml). Idempotent. "
        "--prune deactivates plans missing from the file (never deletes one); --dry-run only prints the diff."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default=str(PLAN_FILE), help="Plan file (YAML).")
        parser.add_argument("--prune", action="store_true", help="Deactivate plans that the file does not list.")
        parser.add_argument("--dry-run", action="store_true", help="Print what would change; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            plan_file = plan_file_load(path)
        except PlanFileError as error:
            raise CommandError(str(error)) from error
        progress = tqdm(
            total=len(plan_file.plans),
            unit="plan",
            desc="seeding plans",
            disable=options["no_progress"] or None,  # None: automatic, off when stderr is not a terminal
            file=self.stderr._out,
        )
        with progress:
            report = plans_sync(
                plan_file=plan_file,
                prune=options["prune"],
                dry_run=options["dry_run"],
                on_progress=lambda slug: progress.update(1),
            )
        prefix = "Dry run of " if report.dry_run else ""
        self.stdout.write(f"{prefix}{path.name} (version {report.version}): {len(plan_file.plans)} plan(s).")
        for change in report.changes:
            self.stdout.write(self._describe(change))
        for price_change in report.price_changes:
            self.stdout.write(price_change.describe())
        for usage_change in report.usage_changes:
            self.stdout.write(usage_change.describe())
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"  ! {warning}"))
        if payment_provider().mirrors and not report.dry_run:
            self._stripe_sync(no_progress=options["no_progress"])
        if not report.changed:
            self.stdout.write(self.style.SUCCESS("No changes: every plan is up to date."))
            return
        summary = (
            f"{report.count('create')} created, {report.count('update')} updated, "
            f"{report.count('deactivate')} deactivated, {len(report.unchanged)} unchanged."
        )
        if report.price_changes:
            summary += (
                f" Prices: {report.price_count('create')} created, {report.price_count('update')} updated, "
                f"{report.price_count('remove')} removed"
            )
            no_longer_sold = report.price_count("deactivate")
            # Only when it happens, so the usual summary reads as before.
            summary += f", {no_longer_sold} no longer sold." if no_longer_sold else "."
        if report.usage_changes:
            summary += (
                f" Metrics: {report.usage_count('metric', 'create')} created, "
                f"{report.usage_count('metric', 'update')} updated, "
                f"{report.usage_count('metric', 'deactivate')} deactivated. "
                f"Charges: {report.usage_count('charge', 'create')} created, "
                f"{report.usage_count('charge', 'update')} updated, {report.usage_count('charge', 'remove')} removed."
            )
        if report.dry_run:
            self.stdout.write(self.style.WARNING(f"Would change: {summary} Nothing was written (--dry-run)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Done: {summary}"))

    def _stripe_sync(self, *, no_progress: bool) -> None:
        """Every plan as a Stripe Product with a monthly and an annual Price per currency it is sold in
        (billing.providers.stripe.plans)."""
        progress = tqdm(unit="plan", desc="syncing plans to Stripe", disable=no_progress or None, file=self.stderr._out)
        try:
            with progress:
                stripe_report = payment_provider().plans_sync(on_progress=lambda slug: progress.update(1))
        except ApplicationError as error:
            raise CommandError(f"Plans saved, but Stripe was not updated: {error.message}") from error
        for change in stripe_report.changes:
            self.stdout.write(f"  $ {change}")
        if stripe_report.changed:
            self.stdout.write(f"Stripe: {len(stripe_report.changes)} change(s) to products and prices.")
        else:
            self.stdout.write("Stripe: every plan's product and prices are up to date.")

    @staticmethod
    def _describe(change: PlanChange) -> str:
        if change.action == "create":
            wanted = change.fields
            return (
                f"  + {change.slug}: create {wanted['name'][1]} "
                f"(monthly {wanted['monthly_price'][1]}, annual {wanted['annual_price'][1]} {wanted['currency'][1]})"
            )
        if change.action == "deactivate":
            kept = f"; its {change.subscriptions} subscription(s) keep it" if change.subscriptions else ""
            return f"  - {change.slug}: deactivate (not in the file{kept})"
        details = ", ".join(f"{name} {_value(old)} -> {_value(new)}" for name, (old, new) in change.fields.items())
        return f"  ~ {change.slug}: {details}"
