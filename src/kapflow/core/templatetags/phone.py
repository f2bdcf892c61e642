"""`{{ number|tel }}`: a phone number shown as a link a phone can dial.

Loaded as a builtin (settings.TEMPLATES), so every template can use it. The link's target
keeps only the digits (and a leading +); a ten-digit US number gets +1 so it dials from
anywhere. Short codes (911, 988) stay as they are. Text that holds no digit is shown as
text, and an empty value renders as nothing, so `{{ x|tel|default:"—" }}` still works.
"""

import re

from django import template
from django.utils.html import format_html

register = template.Library()


def tel_target(number: str) -> str:
    """The dialable form of `number`: "+15035550140" for "(503) 555-0140", "911" for "911"."""
    text = str(number).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return ""
    if text.startswith("+"):
        return f"+{digits}"
    if len(digits) == 10:
        return f"+1{digits}"
    if len(digits) == 11 and digits.startswith("1"):
        return f"+{digits}"
    return digits


@register.filter
def tel(number) -> str:
    if number is None or str(number).strip() == "":
        return ""
    target = tel_target(number)
    if not target:
        return str(number)
    return format_html('<a href="tel:{}" class="tel">{}</a>', target, str(number).strip())
