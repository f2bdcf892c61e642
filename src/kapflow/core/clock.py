"""The one clock (decision 0027). Every instant comes from `now()`; every clinical date is that
instant read in one declared zone: the zone of the practice that holds the client's record
(its own setting, else its state's). The same action gives the same date whether it comes
from a page, the API, a task or a PDF, and whoever does it (a prescriber in another zone, a
client travelling).

Dates that are not about a client's care (a calendar's "today", an audit filter) are read in
the viewer's zone, which ActorMiddleware and the API's authentication activate:
`viewer_today()`.

Never call `date.today()`, `datetime.now()` or `timezone.now().date()` (the UTC date) in
application code: a UTC date compared with a local one is off by a day for a third of it.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from kapflow.core.timezones import organisation_zone, zone


def now() -> datetime:
    """The current instant (aware, UTC). Tests freeze it with time-machine."""
    return timezone.now()


def clinical_zone(organisation) -> ZoneInfo:
    """The zone that defines clinical dates for records held by `organisation`."""
    return zone(organisation_zone(organisation))


def clinical_date(organisation, at: datetime | None = None) -> date:
    """The clinical date of instant `at` (default: now) for a record held by `organisation`
    (an Organisation, or None for the default zone)."""
    return timezone.localdate(at if at is not None else now(), clinical_zone(organisation))


def viewer_today(at: datetime | None = None) -> date:
    """The date in the active (viewer's) zone: for calendars and filters, never for a
    clinical record."""
    return timezone.localdate(at if at is not None else now())
