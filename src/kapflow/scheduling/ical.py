"""The iCalendar (RFC 5545) body of a personal feed.

No PHI by default: every event is titled "kapflow appointment", its location is "Telehealth"
or the room's name, and there is no description, no attendee and never the video link. With
`show_details` the owner opted in to the kind of session in the title ("Dosing session"),
still without names. UIDs are stable per appointment row; a cancelled appointment stays in
the feed with STATUS:CANCELLED so subscribed calendars remove it.

The calendar's frame comes from the icalendar package; the events are written line by line
with its escaping (vText) and folded here: a year of a busy clinician's feed is about
1,300 events, and building them as icalendar components costs several hundred ms (see
bench/scheduling.py). tests/scheduling parse the output back with icalendar.
"""

from datetime import UTC, datetime

from django.conf import settings
from icalendar import Calendar
from icalendar.prop import vText

from kapflow.scheduling.models import AppointmentKind, AppointmentStatus

PRODID = "-//kapflow//appointments//EN"
TITLE = "kapflow appointment"
KIND_LABELS = dict(AppointmentKind.choices)


def _host() -> str:
    host = settings.KAPFLOW_BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":")[0]
    return host or "kapflow"


def uid(appointment_id: int, host: str | None = None) -> str:
    return f"appointment-{appointment_id}@{host or _host()}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    return vText(value).to_ical().decode()


def _line(name: str, value: str) -> str:
    """One content line, folded at 75 octets (RFC 5545 section 3.1) without splitting a
    UTF-8 character."""
    line = f"{name}:{value}"
    if len(line.encode()) <= 75:
        return line
    parts, current, size = [], [], 0
    for ch in line:
        width = len(ch.encode())
        limit = 75 if not parts else 74  # continuation lines start with a space
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)


def feed_ics(appointments, *, show_details: bool, now: datetime) -> bytes:
    """`appointments`: rows with pk, kind, starts_at, ends_at, telehealth, room (or None),
    status and version (model instances or the lighter FeedRow of the selector)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "kapflow")
    frame = cal.to_ical().decode()
    head, tail = frame.rsplit("END:VCALENDAR", 1)
    host, dtstamp = _host(), _stamp(now)
    texts: dict[str, str] = {}

    def text(value: str) -> str:
        if value not in texts:
            texts[value] = _text(value)
        return texts[value]

    out = [head]
    for a in appointments:
        title = KIND_LABELS.get(a.kind, TITLE) if show_details else TITLE
        where = "Telehealth" if a.telehealth else (a.room_name or "")
        cancelled = a.status == AppointmentStatus.CANCELLED
        out.append(
            "BEGIN:VEVENT\r\n"
            f"{_line('UID', uid(a.pk, host))}\r\n"
            f"DTSTAMP:{dtstamp}\r\n"
            f"DTSTART:{_stamp(a.starts_at)}\r\n"
            f"DTEND:{_stamp(a.ends_at)}\r\n"
            f"{_line('SUMMARY', text(title))}\r\n"
            f"{_line('LOCATION', text(where))}\r\n"
            f"SEQUENCE:{a.version}\r\n"
            f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}\r\n"
            f"TRANSP:{'TRANSPARENT' if cancelled else 'OPAQUE'}\r\n"
            "END:VEVENT\r\n"
        )
    out.append("END:VCALENDAR" + tail)
    return "".join(out).encode()
