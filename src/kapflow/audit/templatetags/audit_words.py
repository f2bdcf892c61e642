"""`{{ event.action|action_words }}`: an audit action in words for staff pages."""

from django import template

from kapflow.audit.actions import staff_words

register = template.Library()


@register.filter
def action_words(code: str) -> str:
    return staff_words(code or "")
