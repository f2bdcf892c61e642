"""The practice admin's notice that the installation has outgrown SQLite (decision 0043)."""

from django import template
from django.core.cache import cache

register = template.Library()

CACHE_KEY = "kapflow:sqlite-outgrown"
CACHE_SECONDS = 600  # one COUNT per process every ten minutes, not on every home page


@register.inclusion_tag("core/_sqlite_outgrown.html", takes_context=True)
def sqlite_outgrown_notice(context):
    from kapflow.core.sqlite import is_sqlite, outgrown

    actor = context.get("actor")
    if actor is None or not is_sqlite() or "practice_admin" not in actor.role_set:
        return {"reasons": []}
    reasons = cache.get(CACHE_KEY)
    if reasons is None:
        reasons = outgrown()
        cache.set(CACHE_KEY, reasons, CACHE_SECONDS)
    return {"reasons": reasons}
