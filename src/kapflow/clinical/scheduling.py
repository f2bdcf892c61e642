"""Scheduling rules, pure: clashes between intervals, recurring series in local time,
working hours, default lengths, the integration window after a dosing session, and
whether each clinician is licensed where an appointment takes place.

No Django, no database: callers pass the busy intervals, the weekly hours and the exceptions
they loaded, and decide whether a finding refuses (a clash) or warns (outside hours).

Times: every datetime passed in or returned is timezone-aware; series are expanded in the
local time of a named IANA zone and converted to UTC, so a weekly 10:00 America/New_York
series stays at 10:00 local across a daylight-saving change. Local times that do not exist
(the spring-forward gap) or exist twice (the fall-back hour) are resolved as RFC 5545
section 3.3.5 says: a time in the gap is read with the offset from before the gap, so it
moves forward by the gap's length (02:30 becomes 03:30); an ambiguous time is the first
occurrence (fold=0, daylight time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from kapflow.clinical.geography import US_STATES
from kapflow.clinical.licensure import current_licence_in_state
from kapflow.clinical.reasons import Reason

# Default length in minutes (seed 001: a dosing session lasts two to three hours; a
# psychotherapy hour is 53 minutes or more for CPT 90837; an intake 90791 usually 60-90).
DEFAULT_MINUTES: dict[str, int] = {
    "consultation": 30,
    "intake": 90,
    "medical_evaluation": 60,
    "preparation": 60,
    "dosing": 180,
    "integration": 60,
    "followup": 30,
    "therapy": 60,
}
MIN_MINUTES = 10
MAX_MINUTES = 8 * 60
# A series is capped: a year of weekly sessions. Longer plans are booked again later.
MAX_OCCURRENCES = 52


def default_minutes(kind: str) -> int:
    """The default length of an appointment kind, in minutes (60 for an unknown kind)."""
    return DEFAULT_MINUTES.get(kind, 60)


# ---- time display ---------------------------------------------------------------------------


def local_label(moment: datetime, zone_name: str) -> str:
    """'Tue 10 Mar 2026, 10:00 EDT': how a moment reads in a zone (for messages)."""
    local = moment.astimezone(ZoneInfo(zone_name))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def span_label(starts_at: datetime, ends_at: datetime, zone_name: str) -> str:
    """'Tue 10 Mar 2026, 10:00 to 11:00 EDT', or both full labels across days/offsets."""
    tz = ZoneInfo(zone_name)
    s, e = starts_at.astimezone(tz), ends_at.astimezone(tz)
    if s.date() == e.date() and s.tzname() == e.tzname():  # local datetimes (tz above)
        return f"{s:%a} {s.day} {s:%b %Y, %H:%M} to {e:%H:%M} {e.tzname()}"
    return f"{local_label(starts_at, zone_name)} to {local_label(ends_at, zone_name)}"


# ---- clashes --------------------------------------------------------------------------------


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals [start, end): touching intervals (one ends as the other starts)
    do not overlap."""
    return a_start < b_end and b_start < a_end


@dataclass(frozen=True)
class Busy:
    """Something already booked for a person or a room. `who` is the plain label the
    message names (a clinician's name, "Room Cedar"): never a client's name."""

    who: str
    starts_at: datetime
    ends_at: datetime
    kind: str = "person"  # "person" or "room"


def clash_reasons(
    starts_at: datetime, ends_at: datetime, busy: Iterable[Busy], *, zone_name: str
) -> list[Reason]:
    """Every clash of [starts_at, ends_at) with what is already booked, one reason each, in
    time order, with times in `zone_name`. The messages name the clinician or the room and
    the times, never what the other appointment is or who else attends."""
    found = sorted(
        (b for b in busy if overlaps(starts_at, ends_at, b.starts_at, b.ends_at)),
        key=lambda b: (b.starts_at, b.who),
    )
    reasons = []
    for b in found:
        when = span_label(b.starts_at, b.ends_at, zone_name)
        if b.kind == "room":
            reasons.append(Reason("clash.room", f"{b.who} is already booked {when}."))
        else:
            reasons.append(Reason("clash.person", f"{b.who} already has an appointment {when}."))
    return reasons


# ---- local time -----------------------------------------------------------------------------


def to_aware(local: datetime, zone_name: str) -> datetime:
    """A naive local wall time in a zone as an aware datetime, resolving the DST edges as
    RFC 5545 does: a nonexistent time moves forward by the gap; an ambiguous one is the first
    occurrence. The result is in the zone; convert it with .astimezone(UTC) before comparing
    it with ==: an ambiguous wall time compares unequal to every other zone's datetime
    (PEP 495)."""
    tz = ZoneInfo(zone_name)
    first = local.replace(tzinfo=tz, fold=0)
    # Round-trip through UTC normalises a time in the gap to the wall time it really is.
    return first.astimezone(UTC).astimezone(tz)


def is_nonexistent(local: datetime, zone_name: str) -> bool:
    """True for a wall time skipped by a spring-forward change (e.g. 02:30 on 8 March 2026
    in America/New_York)."""
    return to_aware(local, zone_name).replace(tzinfo=None) != local


def is_ambiguous(local: datetime, zone_name: str) -> bool:
    """True for a wall time that happens twice (the fall-back hour)."""
    tz = ZoneInfo(zone_name)
    return local.replace(tzinfo=tz, fold=0).utcoffset() != local.replace(
        tzinfo=tz, fold=1
    ).utcoffset() and not is_nonexistent(local, zone_name)


# ---- recurrence -----------------------------------------------------------------------------

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RULE_PART = re.compile(r"^[A-Z]+=[A-Z0-9,]+$")


@dataclass(frozen=True)
class Recurrence:
    """The subset of an RFC 5545 RRULE kapflow books: weekly (interval 1) or every other
    week (interval 2), on the start's weekday or on listed weekdays, ending after `count`
    occurrences or on the local date `until` (inclusive)."""

    interval: int = 1
    count: int | None = None
    until: date | None = None
    weekdays: tuple[int, ...] = ()  # 0 = Monday; empty: the first occurrence's weekday

    def as_rrule(self) -> str:
        parts = ["FREQ=WEEKLY", f"INTERVAL={self.interval}"]
        if self.weekdays:
            parts.append("BYDAY=" + ",".join(_DAYS[d] for d in self.weekdays))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}")
        return ";".join(parts)


def recurrence_problems(rec: Recurrence) -> dict[str, str]:
    """Plain-words problems with a recurrence, by field (empty when it can be booked)."""
    problems = {}
    if rec.interval not in (1, 2):
        problems["interval"] = "Repeat every week or every other week."
    if rec.count is None and rec.until is None:
        problems["count"] = "Say how many times, or until when, the appointment repeats."
    if rec.count is not None and not 2 <= rec.count <= MAX_OCCURRENCES:
        problems["count"] = f"A series has between 2 and {MAX_OCCURRENCES} appointments."
    if any(not 0 <= d <= 6 for d in rec.weekdays):
        problems["weekdays"] = "Choose weekdays from Monday to Sunday."
    return problems


def parse_rrule(text: str) -> Recurrence:
    """Read 'FREQ=WEEKLY;INTERVAL=2;COUNT=6' (BYDAY and UNTIL=YYYYMMDD allowed). Raises
    ValueError with plain words for anything else."""
    values: dict[str, str] = {}
    for part in (text or "").strip().upper().removeprefix("RRULE:").split(";"):
        if not _RULE_PART.match(part):
            raise ValueError("Write the repeat rule as FREQ=WEEKLY;INTERVAL=1;COUNT=6.")
        key, _, value = part.partition("=")
        values[key] = value
    if values.pop("FREQ", None) != "WEEKLY":
        raise ValueError("Only weekly repeats are supported (FREQ=WEEKLY).")
    unknown = set(values) - {"INTERVAL", "COUNT", "UNTIL", "BYDAY"}
    if unknown:
        raise ValueError("Only INTERVAL, COUNT, UNTIL and BYDAY are supported.")
    try:
        interval = int(values.get("INTERVAL", "1"))
        count = int(values["COUNT"]) if "COUNT" in values else None
        until = (
            datetime.strptime(values["UNTIL"][:8], "%Y%m%d").date() if "UNTIL" in values else None
        )
        weekdays = (
            tuple(_DAYS.index(d) for d in values["BYDAY"].split(",")) if "BYDAY" in values else ()
        )
    except ValueError as exc:
        raise ValueError("The repeat rule has a value that cannot be read.") from exc
    return Recurrence(interval=interval, count=count, until=until, weekdays=weekdays)


def expand(first_local: datetime, zone_name: str, rec: Recurrence) -> list[datetime]:
    """The starts of a series, in UTC: the rule is applied to the naive local wall time
    `first_local` in `zone_name` (so 10:00 stays 10:00 local across DST), and each local
    start is resolved with to_aware. At most MAX_OCCURRENCES; the first is included."""
    if first_local.tzinfo is not None:
        first_local = first_local.astimezone(ZoneInfo(zone_name)).replace(tzinfo=None)
    until = datetime.combine(rec.until, time.max) if rec.until is not None else None
    rule = du.rrule(
        du.WEEKLY,
        dtstart=first_local,
        interval=rec.interval,
        count=min(rec.count, MAX_OCCURRENCES) if rec.count is not None else None,
        until=until,
        byweekday=rec.weekdays or None,
    )
    starts = []
    for local in rule:
        starts.append(to_aware(local, zone_name).astimezone(UTC))
        if len(starts) >= MAX_OCCURRENCES:
            break
    return starts


# ---- working hours --------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyHours:
    """A clinician's working window on one weekday, in a zone's local time."""

    weekday: int  # 0 = Monday
    start: time
    end: time
    zone_name: str
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class Exception_:
    """Time off (available False) or extra hours (available True), in absolute time."""

    starts_at: datetime
    ends_at: datetime
    available: bool = False


def _windows(hours: Iterable[WeeklyHours], start: datetime, end: datetime) -> list[tuple]:
    """The working windows in absolute time that could touch [start, end)."""
    windows = []
    for h in hours:
        tz = ZoneInfo(h.zone_name)
        first = start.astimezone(tz).date() - timedelta(days=1)
        last = end.astimezone(tz).date()
        day = first
        while day <= last:
            in_range = (h.valid_from is None or day >= h.valid_from) and (
                h.valid_until is None or day <= h.valid_until
            )
            if day.weekday() == h.weekday and in_range:
                windows.append(
                    (
                        to_aware(datetime.combine(day, h.start), h.zone_name),
                        to_aware(datetime.combine(day, h.end), h.zone_name),
                    )
                )
            day += timedelta(days=1)
    return windows


def _covered(start: datetime, end: datetime, windows: list[tuple]) -> bool:
    cursor = start
    for w_start, w_end in sorted(windows):
        if w_start > cursor:
            break
        cursor = max(cursor, w_end)
        if cursor >= end:
            return True
    return cursor >= end


def availability_reasons(
    starts_at: datetime,
    ends_at: datetime,
    *,
    who: str,
    hours: Iterable[WeeklyHours],
    exceptions: Iterable[Exception_],
    zone_name: str,
) -> list[Reason]:
    """Warnings (never refusals) for booking `who` at [starts_at, ends_at): time off that
    overlaps, and time outside their weekly hours and extra hours. A clinician with no
    weekly hours set gets no "outside hours" warning: nothing is known about their week."""
    hours, exceptions = list(hours), list(exceptions)
    reasons = []
    for off in sorted((e for e in exceptions if not e.available), key=lambda e: e.starts_at):
        if overlaps(starts_at, ends_at, off.starts_at, off.ends_at):
            when = span_label(off.starts_at, off.ends_at, zone_name)
            reasons.append(
                Reason("availability.time_off", f"{who} is away {when}.", overridable=True)
            )
    if hours:
        windows = _windows(hours, starts_at, ends_at)
        windows += [(e.starts_at, e.ends_at) for e in exceptions if e.available]
        if not _covered(starts_at, ends_at, windows):
            reasons.append(
                Reason(
                    "availability.outside_hours",
                    f"{who} does not usually work {span_label(starts_at, ends_at, zone_name)}.",
                    overridable=True,
                )
            )
    return reasons


# ---- the integration session after a dosing session ---------------------------------------


def integration_window(dosing_starts_at: datetime, dosing_ends_at: datetime, hours: int):
    """(earliest start, latest start) of the integration session: after the dosing session
    ends, and within `hours` of its start (GateSettings.integration_hours, 72 by default)."""
    return dosing_ends_at, dosing_starts_at + timedelta(hours=hours)


def integration_problems(
    dosing_starts_at: datetime,
    dosing_ends_at: datetime,
    integration_starts_at: datetime,
    *,
    hours: int,
) -> list[str]:
    """Plain-words problems with an integration time (empty when inside the window)."""
    earliest, latest = integration_window(dosing_starts_at, dosing_ends_at, hours)
    if integration_starts_at < earliest:
        return ["The integration session must start after the dosing session ends."]
    if integration_starts_at > latest:
        return [f"The integration session must start within {hours} hours of the dosing session."]
    return []


def default_integration_start(dosing_starts_at: datetime, zone_name: str) -> datetime:
    """The next day at the same local time (resolved across a DST change), in UTC."""
    tz = ZoneInfo(zone_name)
    local = dosing_starts_at.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    return to_aware(local, zone_name).astimezone(UTC)


def integration_late_reason(
    dosing_starts_at: datetime, integration_starts_at: datetime, *, hours: int, zone_name: str
) -> Reason | None:
    """The rule an integration session breaks when it starts more than `hours` after the
    start of the dosing session it follows (DOMAIN.md section 2: integration within 72 hours
    of the dosing; the practice's GateSettings.integration_hours). None when on time or
    before. The caller decides whether it warns or refuses (SchedulingSettings)."""
    late = integration_starts_at - dosing_starts_at
    if late <= timedelta(hours=hours):
        return None
    whole_hours = int(late.total_seconds() // 3600)
    # Whole days, rounded: a daylight-saving change in between makes "16 days" 383 hours.
    after = f"{whole_hours} hours" if whole_hours < 96 else f"{round(whole_hours / 24)} days"
    return Reason(
        "integration.outside_window",
        f"The integration session would start {after} after the dosing session of "
        f"{local_label(dosing_starts_at, zone_name)}; the practice's rule is within {hours} "
        "hours of the dosing session.",
        overridable=True,
    )


# ---- licensure where the appointment takes place ------------------------------------------


@dataclass(frozen=True)
class ClinicianLicences:
    """One clinician of a booking: the label messages use and their licences
    (kapflow.clinical.licensure.Licence)."""

    label: str
    field: str
    licences: tuple


def licence_reasons(
    clinicians: Iterable[ClinicianLicences], *, state: str, where: str, on: date
) -> list[tuple[str, Reason]]:
    """(field, reason) for each clinician who holds no current licence in `state` on `on`
    (the appointment's clinical date). A clinician may see a client only where they are
    licensed: the client's state for telehealth, the room's for an in-person appointment
    (state licensure law; DOMAIN.md section 4; decision 0031). `where` completes the
    sentence "..., where <where>". An unknown state is itself a reason: nothing can be
    checked."""
    found = []
    day = f"{on.day} {on:%b %Y}"
    for c in clinicians:
        if not state:
            found.append(
                (
                    c.field,
                    Reason(
                        "licence.state_unknown",
                        f"The state {where} is not recorded, so {c.label}'s licence cannot be "
                        "checked.",
                        overridable=False,
                    ),
                )
            )
            continue
        if current_licence_in_state(list(c.licences), state=state, today=on):
            continue
        name = US_STATES.get(state, state)
        expired = any(lic.state == state for lic in c.licences)
        found.append(
            (
                c.field,
                Reason(
                    "licence.expired" if expired else "licence.state_mismatch",
                    f"{c.label} holds no current licence in {name} on {day}"
                    f"{' (it has expired)' if expired else ''}, where {where}.",
                    overridable=False,
                ),
            )
        )
    return found
