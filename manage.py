#!/usr/bin/env python
"""Development entry point; the installed `kapflow` command does the same."""

from kapflow.__main__ import main

if __name__ == "__main__":
    main()
