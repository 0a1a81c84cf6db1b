"""Seed demo data for `make run`: the plans (when the plan seed exists), a staff user and a customer user."""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command, get_commands
from django.db import transaction


class Command(BaseCommand):
    help = "Create or refresh the demo staff and customer users (new passwords each run) and seed the plans."

    def handle(self, *args: Any, **options: Any) -> None:
        if "seed_plans" in get_commands():
            call_command("seed_plans", stdout=self.stdout, stderr=self.stderr)
        credentials = []
        with transaction.atomic():
            for username, email, is_staff in (
                ("staff", "staff@example.com", True),
                ("customer", "customer@example.com", False),
            ):
                user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.is_staff = is_staff
                user.is_superuser = is_staff
                user.save()
                credentials.append((username, password, "staff (admin)" if is_staff else "customer (API)"))
        self.stdout.write(self.style.SUCCESS("Demo users (passwords are new on every run):"))
        for username, password, role in credentials:
            self.stdout.write(f"  {role:<15} username={username}  password={password}")
