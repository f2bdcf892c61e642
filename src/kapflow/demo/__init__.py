"""The demo practice (Harbor Light Therapy and its partner Northstar Medical Group) and
`manage.py demo`.

The top floor: it may use every app, and no app may use it (.importlinter).
"""
