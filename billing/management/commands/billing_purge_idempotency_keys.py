"""manage.py billing_purge_idempotency_keys: delete stored Idempotency-Key responses past their 24 h."""

from typing import Any

from django.core.management import BaseCommand

from billing_site.api.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = "Delete expired Idempotency-Key records (run daily; expired keys are already ignored)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_keys_purge()
        self.stdout.write(self.style.SUCCESS(f"Purged {deleted} expired idempotency key(s)."))
