#!/usr/bin/env python3
"""The test CAS server (django-cas-server), for the sign-in tests only.
Run through scripts/identity-providers.sh, which sets CAS_DATA_DIR."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casdesk.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
