"""`outbox_body`: a message body as safe HTML, with the links into kapflow clickable.

Only links that start with KAPFLOW_BASE_URL become anchors: a body also carries text people
typed (an organisation's name), which must not turn into a link elsewhere.
"""

import re

from django import template
from django.conf import settings
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()

URL = re.compile(r"https?://[^\s<>\"']+")


@register.filter
def outbox_body(body: str) -> str:
    base = settings.KAPFLOW_BASE_URL.rstrip("/") + "/"
    body = body.rstrip()
    parts, last = [], 0
    for match in URL.finditer(body):
        url = match.group(0).rstrip(".,;:)")
        if not url.startswith(base):
            continue
        parts.append(escape(body[last : match.start()]))
        parts.append(format_html('<a href="{}" rel="noreferrer">{}</a>', url, url))
        last = match.start() + len(url)
    parts.append(escape(body[last:]))
    # Every part is escaped text or format_html's output.
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308
