"""The biller's work on the staff home page: `{% billing_work %}` (counts and totals only)."""

from django import template

from kapflow import policy

register = template.Library()


@register.inclusion_tag("billing/_home.html", takes_context=True)
def billing_work(context):
    from kapflow.billing.selectors import biller_home

    actor = context.get("actor")
    if not policy.can_work_billing(actor):
        return {"show": False}
    return {"show": True, **biller_home(actor=actor)}
