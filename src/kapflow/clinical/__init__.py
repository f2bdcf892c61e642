"""kapflow's clinical rules: pure Python, no Django, no database, no clock.

Dataclasses in, dataclasses out; `today`/`now` are always passed in. A test enforces that no
module here imports Django. Pages, API endpoints and background tasks all ask these functions,
so no rule is written twice.
"""
