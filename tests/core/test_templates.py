"""Template hygiene: Django's {# #} comment ends at the line's end, so a comment that spans
lines is printed on the page (a course page showed one to every clinician)."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "kapflow" / "templates"
OPEN = re.compile(r"\{#(?!.*#\})")


def test_no_template_comment_spans_lines():
    found = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in TEMPLATES.rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OPEN.search(line)
    ]
    assert not found, "Use {% comment %} for comments over several lines: " + ", ".join(found)
