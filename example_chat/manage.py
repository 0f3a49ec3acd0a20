#!/usr/bin/env python
"""The example chat's manage.py: ``python example_chat/manage.py demo`` runs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_chat.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
