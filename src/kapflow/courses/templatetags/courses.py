from django import template

from kapflow.clinical.course import STAGE_LABELS, Stage

register = template.Library()


@register.filter
def stage_label(value: str) -> str:
    """A stage code in plain words ('medical_evaluation' -> 'Medical evaluation')."""
    try:
        return STAGE_LABELS[Stage(value)]
    except ValueError:
        return value
