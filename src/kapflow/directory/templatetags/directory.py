"""Filters for the directory's pages: code lists as labels, slot times in the practice's
zone (each shown with its zone), ISO values for links."""

from django import template
from django.utils import timezone

from kapflow.core.timezones import organisation_zone, zone
from kapflow.directory.models import Condition, Insurance, Language, Modality

register = template.Library()

LABELS = {
    "modalities": dict(Modality.choices),
    "conditions": dict(Condition.choices),
    "insurance": dict(Insurance.choices),
    "languages": dict(Language.choices),
}


@register.filter
def labels(profile, attr: str) -> str:
    names = LABELS.get(attr, {})
    codes = [c for c in (getattr(profile, attr, "") or "").split("|") if c]
    return ", ".join(names.get(c, c) for c in codes)


def _zone_of(clinician):
    return zone(organisation_zone(clinician.practice.organisation))


@register.filter
def local(moment, clinician) -> str:
    """ "Tue 8 Dec, 10:00 AM PST": the practice's zone, named."""
    if moment is None:
        return ""
    at = timezone.localtime(moment, _zone_of(clinician))
    return at.strftime("%a %-d %b, %-I:%M %p ") + at.tzname()


@register.filter
def tz_label(moment, clinician) -> str:
    return timezone.localtime(moment, _zone_of(clinician)).tzname()


@register.filter
def iso(moment) -> str:
    return moment.isoformat() if moment else ""
