#!/usr/bin/env python
"""Django's command-line utility for billing_site; defaults to local settings, for developers."""

import sys


def main() -> None:
    from billing_site.settings import settings_module_select

    settings_module_select(default="billing_site.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
