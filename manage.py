#!/usr/bin/env python
"""Development entry point; the installed `kapflow` command does the same."""

import os

from kapflow.__main__ import main

if __name__ == "__main__":
    # A checkout's manage.py is for development: allow the built-in development key. The
    # installed `kapflow` command and the WSGI/ASGI entry points still require SECRET_KEY.
    os.environ.setdefault("KAPFLOW_DEV", "1")
    main()
