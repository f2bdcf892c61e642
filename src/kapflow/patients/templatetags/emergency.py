"""The emergency access banner (every page, while the clinician holds a grant) and the
admin's notice of grants to review (decision 0036)."""

from django import template

from kapflow.core import clock

register = template.Library()


@register.inclusion_tag("patients/_emergency_banner.html", takes_context=True)
def emergency_banner(context):
    from kapflow.patients.selectors import emergency_grants_for_request

    request = context.get("request")
    if request is None:
        return {"grants": []}
    now = clock.now()
    grants = [g for g in emergency_grants_for_request(request) if g.is_active(now)]
    return {"grants": grants, "now": now, "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("patients/_emergency_review_notice.html", takes_context=True)
def emergency_review_notice(context):
    from kapflow.patients.selectors import emergency_unreviewed_count

    return {"unreviewed": emergency_unreviewed_count(actor=context.get("actor"))}
