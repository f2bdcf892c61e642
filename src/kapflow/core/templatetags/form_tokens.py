"""`{% csrf_token %}` with a one-time form token beside it (decision 0038).

settings.TEMPLATES loads this library as a builtin, after Django's own, so this tag replaces
Django's tag of the same name in every template: each POST form already carries the CSRF
token, and so each carries a form token too, with nothing for a template to remember.
kapflow.core.form_tokens checks what comes back.
"""

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils.html import format_html

from kapflow.core.form_tokens import FIELD, new_token

register = template.Library()


class CsrfAndFormTokenNode(CsrfTokenNode):
    def render(self, context):
        csrf = super().render(context)
        if not csrf:
            # Rendered without a request's CSRF token: not a form anyone can send.
            return csrf
        return csrf + format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())


@register.tag
def csrf_token(parser, token):
    return CsrfAndFormTokenNode()
