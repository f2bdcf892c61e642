"""Scheduling write paths: book (one, a series, a group, a dosing session with its
integration session), reschedule, cancel, mark, availability, rooms, settings, calendar
feeds.

Rules come from kapflow.clinical.scheduling (clashes, recurrence, hours) and
kapflow.clinical.course (the dosing gate); permissions from kapflow.policy. Clashes refuse
(409, every clash listed); working-hours and gate findings warn, and the booker confirms
them (`confirm=True`) to book anyway. Messages name clinicians, rooms and times, never a
client other than by record number, nor what another appointment is.

Concurrency: a booking locks the clinicians' membership rows and the room row (in id
order, so two bookings cannot deadlock) before it looks for clashes, so two bookings of the
same person at the same time cannot both pass. A change to an appointment carries the
`version` it was made against; a stale version is refused.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership, Partnership, Role, hash_secret
from kapflow.audit.services import audit_access_denied, audit_not_found, audit_record
from kapflow.clinical import scheduling as rules
from kapflow.clinical.reasons import Reason
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.timezones import organisation_zone
from kapflow.scheduling.models import (
    ENCOUNTER_KINDS,
    GROUP_KINDS,
    LIVE_STATUSES,
    OPEN_STATUSES,
    Appointment,
    AppointmentKind,
    AppointmentParticipant,
    AppointmentSeries,
    AppointmentStatus,
    AvailabilityException,
    AvailabilityRule,
    CalendarFeed,
    ParticipantRole,
    Room,
    SchedulingSettings,
)
from kapflow.scheduling.selectors import integration_hours

logger = logging.getLogger(__name__)

# No appointment is longer: bounds the clash queries' index range scans from below.
_LONGEST = timedelta(minutes=rules.MAX_MINUTES)


class SchedulingConflict(DomainError):
    """The time clashes with what a clinician, a room or a client already has (409). Every
    clash is listed; none can be overridden."""

    code = "scheduling.conflict"

    def __init__(self, reasons: list[Reason]):
        self.reasons = list(reasons)
        super().__init__(" ".join(r.message for r in self.reasons), code=self.code)

    def as_errors(self) -> list[dict]:
        return [
            {"field": "starts_at", "code": r.code, "message": r.message, "overridable": False}
            for r in self.reasons
        ]


class ConfirmationRequired(DomainError):
    """Warnings the booker must confirm (409): outside working hours, time off, and for a
    dosing session every reason the course gate would refuse today. Send again with
    `confirm` to book anyway; hard gate reasons (overridable False) will still block the
    session's start."""

    code = "scheduling.confirm"

    def __init__(self, reasons: list[Reason]):
        self.reasons = list(reasons)
        super().__init__(" ".join(r.message for r in self.reasons), code=self.code)

    def as_errors(self) -> list[dict]:
        return [
            {"field": "confirm", "code": r.code, "message": r.message, "overridable": r.overridable}
            for r in self.reasons
        ]


class LicenceRefused(DomainError):
    """A clinician holds no current licence where the appointment takes place, on its date
    (409): the client's state for telehealth, the room's (else the practice's) in person.
    Every clinician and state is listed, each by its field; none can be confirmed away
    (decision 0031)."""

    code = "scheduling.licence"

    def __init__(self, found: list[tuple[str, Reason]]):
        self.found = list(found)
        self.reasons = [r for _, r in self.found]
        super().__init__(
            " ".join(r.message for r in self.reasons), code=self.code, field=self.found[0][0]
        )

    def as_errors(self) -> list[dict]:
        return [
            {"field": f, "code": r.code, "message": r.message, "overridable": False}
            for f, r in self.found
        ]


@dataclass
class Booking:
    appointments: list[Appointment]
    warnings: list[Reason] = field(default_factory=list)

    @property
    def first(self) -> Appointment:
        return self.appointments[0]


# ---- settings -------------------------------------------------------------------------------

DEFAULT_REMINDER_OFFSETS = (1440, 120)


def settings_for(organisation_id: int) -> SchedulingSettings:
    """The practice's settings, or the defaults (unsaved) when it never changed them."""
    found = SchedulingSettings.objects.filter(organisation_id=organisation_id).first()
    return found or SchedulingSettings(organisation_id=organisation_id)


def reminder_offsets(settings: SchedulingSettings) -> list[int]:
    return sorted({int(o) for o in settings.reminder_offsets or DEFAULT_REMINDER_OFFSETS})


@transaction.atomic
def scheduling_settings_update(
    *, actor: Membership, group_size_max: int, reminder_offsets: list[int], reminder_sms: bool,
    reminder_sender_name: str | None = None, integration_late_refused: bool | None = None,
) -> SchedulingSettings:  # fmt: skip
    if not policy.can_manage_rooms(actor):
        raise NotFound()
    if not isinstance(reminder_offsets, list) or not all(
        isinstance(o, int) and 0 < o <= 14 * 1440 for o in reminder_offsets
    ):
        raise ValidationError(
            {"reminder_offsets": "Give reminder times as minutes before, up to 14 days."}
        )
    if len(reminder_offsets) > 5:
        raise ValidationError({"reminder_offsets": "At most five reminders."})
    settings, _ = SchedulingSettings.objects.select_for_update().get_or_create(
        organisation=actor.organisation
    )
    settings.group_size_max = group_size_max
    settings.reminder_offsets = sorted(set(reminder_offsets), reverse=True)
    settings.reminder_sms = bool(reminder_sms)
    if integration_late_refused is not None:
        settings.integration_late_refused = bool(integration_late_refused)
    if reminder_sender_name is not None:
        settings.reminder_sender_name = (reminder_sender_name or "").strip()
    settings.full_clean()
    settings.save()
    audit_record(actor=actor, action="scheduling.settings_update", target=settings)
    return settings


# ---- who takes part -------------------------------------------------------------------------


def _staff_member(org_id: int, membership_id: int, role: str, field_name: str) -> Membership:
    """An active therapist of the practice, or an active prescriber of the practice or of a
    partner organisation, else a field error."""
    orgs = [org_id]
    if role == Role.PRESCRIBER:
        orgs += list(
            Partnership.objects.filter(practice_id=org_id).values_list("partner_id", flat=True)
        )
    found = (
        Membership.objects.filter(
            pk=membership_id, organisation_id__in=orgs, is_active=True, roles__role=role
        )
        .select_related("user", "organisation")
        .first()
    )
    if found is None:
        label = "therapist" if role == Role.THERAPIST else "prescriber"
        raise ValidationError({field_name: f"Choose a {label} of the practice."})
    return found


def _require_on_care_team(member: Membership, clients: list, field_name: str) -> None:
    """Every client of the booking has `member` on their active care team, else a field
    error: a booking must not show a client's name to a clinician who is not caring for
    them (their week, feed and the appointment page)."""
    from kapflow.patients import grants

    ids = {c.pk for c, _ in clients}
    on_team = grants.clients_on_team(member.pk, ids)
    if on_team != ids:
        label = "therapist" if field_name == "therapist" else "prescriber"
        raise ValidationError(
            {
                field_name: f"This {label} is not on this client's care team; add them on the "
                "client record first."
            }
        )


def _label(membership: Membership) -> str:
    return membership.user.full_name or f"Clinician #{membership.pk}"


@dataclass
class _Party:
    """The people and place of one booking, resolved and checked."""

    organisation_id: int
    clients: list  # [(Client, Course | None)]
    staff: list  # [(role, Membership)]
    companions: list  # [Companion]
    room: Room | None


def _resolve(
    *,
    actor,
    kind: str,
    client_ids: list[int],
    course_ids: list[int],
    therapist_id: int | None,
    prescriber_id: int | None,
    room_id: int | None,
    telehealth: bool,
    telehealth_url: str,
) -> _Party:
    """Who and where a booking is for, each checked: the clients (with their courses), the
    clinicians, the at-home companions and the room. Raises NotFound or ValidationError."""
    if kind not in AppointmentKind.values:
        raise ValidationError({"kind": "Choose the kind of appointment."})
    clients = _booked_courses(actor, course_ids)
    clients += _booked_clients(actor, client_ids, known={c.pk for c, _ in clients})
    org_id = _group_checked(kind, clients)
    staff = _booked_staff(actor, kind, org_id, clients, therapist_id, prescriber_id)
    at_home = kind == AppointmentKind.DOSING and any(
        course is not None and course.delivery == "at_home" for _, course in clients
    )
    companions = _at_home_companions(org_id, clients) if at_home else []
    room = _booked_room(org_id, room_id, telehealth=telehealth, at_home=at_home)
    if telehealth and telehealth_url and not telehealth_url.startswith("https://"):
        raise ValidationError({"telehealth_url": "The video link must start with https://."})
    return _Party(org_id, clients, staff, companions, room)


def _booked_courses(actor, course_ids: list[int]) -> list:
    """[(client, course)] for the named courses, in the order named; NotFound (each miss
    recorded) when one is not the actor's to book."""
    if not course_ids:
        return []
    found = {
        c.pk: c
        for c in policy.courses_queryset(actor)
        .filter(pk__in=course_ids)
        .select_related("client", "organisation")
    }
    if len(found) != len(set(course_ids)):
        from kapflow.courses.models import Course

        for missing in sorted(set(course_ids) - found.keys()):
            audit_access_denied(actor=actor, model=Course, object_id=missing)
        raise NotFound("Course not found.")
    return [(found[i].client, found[i]) for i in dict.fromkeys(course_ids)]


def _booked_clients(actor, client_ids: list[int], *, known: set[int]) -> list:
    """[(client, open course or None)] for clients named without a course (those not in
    `known`); NotFound (each miss recorded) when one is not the actor's to book."""
    extra = [i for i in dict.fromkeys(client_ids) if i not in known]
    if not extra:
        return []
    found = {
        c.pk: c
        for c in policy.clients_queryset(actor).filter(pk__in=extra).select_related("organisation")
    }
    if len(found) != len(extra):
        from kapflow.patients.models import Client

        for missing in sorted(set(extra) - found.keys()):
            audit_access_denied(actor=actor, model=Client, object_id=missing)
        raise NotFound("Client not found.")
    # A client named without a course: their open course, when they have one (the
    # gate, the group session's per-client course and the course page read it).
    open_courses = {
        c.client_id: c
        for c in policy.courses_queryset(actor)
        .filter(client_id__in=extra, closed_at__isnull=True)
        .select_related("client", "organisation")
    }
    return [(found[i], open_courses.get(i)) for i in extra]


def _group_checked(kind: str, clients: list) -> int:
    """The one practice all the clients belong to, after checking a group's kind and size."""
    if not clients:
        raise ValidationError({"client": "Choose the client."})
    if len({c.pk for c, _ in clients}) != len(clients):
        raise ValidationError({"course": "Each client may be booked once."})
    orgs = {c.organisation_id for c, _ in clients}
    if len(orgs) != 1:
        raise ValidationError({"client": "All clients must belong to the same practice."})
    org_id = orgs.pop()
    if len(clients) > 1:
        if kind not in GROUP_KINDS:
            raise ValidationError(
                {"client": "Only dosing and integration sessions can be held in a group."}
            )
        cap = settings_for(org_id).group_size_max
        if len(clients) > cap:
            raise ValidationError(
                {"client": f"A group session holds at most {cap} clients at this practice."}
            )
    return org_id


def _booked_staff(actor, kind, org_id, clients, therapist_id, prescriber_id) -> list:
    """[(role, membership)]: the named clinicians, else the first course's (the therapist,
    and its prescriber for a medical evaluation or follow-up), else the acting therapist;
    each must be on every client's care team."""
    first_course = clients[0][1]
    if therapist_id is None and first_course is not None:
        therapist_id = first_course.therapist_id
    if therapist_id is None and actor.has_role(Role.THERAPIST) and actor.organisation_id == org_id:
        therapist_id = actor.pk
    if (
        prescriber_id is None
        and first_course is not None
        and kind in (AppointmentKind.MEDICAL_EVALUATION, AppointmentKind.FOLLOWUP)
    ):
        prescriber_id = first_course.prescriber_id
    staff = []
    if therapist_id is not None:
        staff.append(
            (
                ParticipantRole.THERAPIST,
                _staff_member(org_id, therapist_id, Role.THERAPIST, "therapist"),
            )
        )
    if prescriber_id is not None and prescriber_id != therapist_id:
        staff.append(
            (
                ParticipantRole.PRESCRIBER,
                _staff_member(org_id, prescriber_id, Role.PRESCRIBER, "prescriber"),
            )
        )
    if not staff:
        raise ValidationError({"therapist": "Choose the clinician who will see the client."})
    for role, membership in staff:
        _require_on_care_team(membership, clients, str(role))
    return staff


def _at_home_companions(org_id: int, clients: list) -> list:
    """The companions of the clients whose course is dosed at home."""
    from kapflow.patients.models import Companion

    return list(
        Companion.objects.for_org(org_id)
        .filter(
            client_id__in=[c.pk for c, course in clients if course and course.delivery == "at_home"]
        )
        .select_related("user")
    )


def _booked_room(org_id: int, room_id: int | None, *, telehealth: bool, at_home: bool):
    """The practice's active room named, or None for telehealth (exactly one of the two;
    an at-home dosing session is always telehealth)."""
    if room_id is not None and telehealth:
        raise ValidationError({"room": "Choose a room or telehealth, not both."})
    if room_id is None:
        if not telehealth:
            raise ValidationError({"room": "Choose a room, or telehealth."})
        return None
    room = Room.objects.for_org(org_id).filter(pk=room_id, is_active=True).first()
    if room is None:
        raise ValidationError({"room": "Choose one of the practice's rooms."})
    if at_home:
        raise ValidationError({"room": "An at-home dosing session is held by telehealth."})
    return room


# ---- clashes and warnings -------------------------------------------------------------------


def _lock(party: _Party) -> None:
    """Serialise bookings of the same clinicians, clients and room (see the module
    docstring)."""
    from kapflow.patients.models import Client

    ids = sorted(m.pk for _, m in party.staff)
    list(Membership.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))
    client_ids = sorted(c.pk for c, _ in party.clients)
    list(Client.objects.select_for_update().filter(pk__in=client_ids).order_by("pk").values("pk"))
    if party.room is not None:
        list(Room.objects.select_for_update().filter(pk=party.room.pk).values("pk"))


def _busy(party: _Party, spans: list[tuple], exclude_ids: set[int]) -> list[rules.Busy]:
    """What the clinicians, the clients and the room already have during any of the spans."""
    if not spans:
        return []
    lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    staff = {m.pk: _label(m) for _, m in party.staff}
    clients = {c.pk: f"Client #{c.pk}" for c, _ in party.clients}
    rows = (
        AppointmentParticipant.objects.filter(
            live=True, starts_at__lt=hi, ends_at__gt=lo, starts_at__gt=lo - _LONGEST
        )
        .filter(Q(membership_id__in=list(staff)) | Q(client_id__in=list(clients)))
        .exclude(appointment_id__in=exclude_ids)
        .values_list("membership_id", "client_id", "starts_at", "ends_at")
    )
    busy = [rules.Busy(staff[m] if m else clients[c], s, e) for m, c, s, e in rows]
    if party.room is not None:
        room_rows = (
            Appointment.objects.filter(
                room=party.room,
                status__in=LIVE_STATUSES,
                starts_at__lt=hi,
                ends_at__gt=lo,
                starts_at__gt=lo - _LONGEST,
            )
            .exclude(pk__in=exclude_ids)
            .values_list("starts_at", "ends_at")
        )
        busy += [rules.Busy(f"Room {party.room.name}", s, e, kind="room") for s, e in room_rows]
    return busy


def _clashes(party, spans, zone_name, exclude_ids=frozenset()) -> list[Reason]:
    busy = _busy(party, spans, set(exclude_ids))
    reasons: list[Reason] = []
    for start, end in spans:
        reasons += [
            r
            for r in rules.clash_reasons(start, end, busy, zone_name=zone_name)
            if r not in reasons
        ]
    return reasons


def _availability(party: _Party, spans, zone_name) -> list[Reason]:
    if not spans:
        return []
    lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    ids = [m.pk for _, m in party.staff]
    hours: dict[int, list] = {i: [] for i in ids}
    for r in AvailabilityRule.objects.filter(membership_id__in=ids):
        hours[r.membership_id].append(
            rules.WeeklyHours(
                r.weekday, r.start_time, r.end_time, r.time_zone, r.valid_from, r.valid_until
            )
        )
    exceptions: dict[int, list] = {i: [] for i in ids}
    for e in AvailabilityException.objects.filter(
        membership_id__in=ids, starts_at__lt=hi, ends_at__gt=lo
    ):
        exceptions[e.membership_id].append(rules.Exception_(e.starts_at, e.ends_at, e.available))
    reasons: list[Reason] = []
    for start, end in spans:
        for _, m in party.staff:
            for r in rules.availability_reasons(
                start, end, who=_label(m), hours=hours[m.pk], exceptions=exceptions[m.pk],
                zone_name=zone_name,
            ):  # fmt: skip
                if r not in reasons:
                    reasons.append(r)
    return reasons


def _licence_check(party: _Party, spans, *, telehealth: bool) -> None:
    """Refuse (LicenceRefused) unless every clinician holds a current licence, on each
    appointment's clinical date, in the state where it takes place: each client's state for
    telehealth (the client is where they sit), the room's or else the practice's in person.
    For a series, each clinician and place is reported once, for the first date it fails."""
    from kapflow.accounts.models import ClinicianLicence, Organisation
    from kapflow.clinical.licensure import Licence

    if not spans:
        return
    organisation = Organisation.objects.get(pk=party.organisation_id)
    held: dict[int, list] = {m.user_id: [] for _, m in party.staff}
    for lic in ClinicianLicence.objects.filter(user_id__in=list(held)):
        held[lic.user_id].append(Licence(lic.licence_type, lic.state, lic.number, lic.expires_on))
    clinicians = [
        rules.ClinicianLicences(_label(m), str(role), tuple(held[m.user_id]))
        for role, m in party.staff
    ]
    if telehealth:
        single = len(party.clients) == 1
        places = [
            (
                client.state,
                "the client is for this telehealth appointment"
                if single
                else f"Client #{client.pk} is for this telehealth group session",
            )
            for client, _ in party.clients
        ]
    elif party.room is not None:
        places = [(party.room.state or organisation.state, f"room {party.room.name} is")]
    else:
        return
    found: list[tuple[str, Reason]] = []
    seen: set[tuple[str, str]] = set()
    for day in sorted({clock.clinical_date(organisation, at=start) for start, _ in spans}):
        for state, where in places:
            for field_name, reason in rules.licence_reasons(
                clinicians, state=state, where=where, on=day
            ):
                key = (field_name, where)  # one clinician per field (role)
                if key not in seen:
                    seen.add(key)
                    found.append((field_name, reason))
    if found:
        raise LicenceRefused(found)


def _integration_dosing_at(party: _Party, starts_at: datetime, follows=None):
    """The start of the dosing session an integration session at `starts_at` follows: the
    one it was booked with (`follows`), else the latest dosing of the clients' courses
    before it, booked (live) or recorded on the course. None when there is none."""
    from kapflow.courses.models import CourseEvent

    if follows is not None and follows.status in LIVE_STATUSES:
        return follows.starts_at
    course_ids = [c.pk for _, c in party.clients if c is not None]
    if not course_ids:
        return None
    booked = (
        AppointmentParticipant.objects.filter(
            course_id__in=course_ids,
            live=True,
            appointment__kind=AppointmentKind.DOSING,
            starts_at__lte=starts_at,
        )
        .order_by("-starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    recorded = (
        CourseEvent.objects.filter(
            course_id__in=course_ids, kind="dosing", occurred_at__lte=starts_at
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return max((t for t in (booked, recorded) if t is not None), default=None)


def _integration_late(party: _Party, starts: list[datetime], zone_name, follows=None):
    """The integration-window rule for integration sessions at `starts`: a warning (the
    first late one), or a refusal when the practice set integration_late_refused."""
    hours = integration_hours(party.organisation_id)
    for start in starts:
        dosing_at = _integration_dosing_at(party, start, follows)
        if dosing_at is None:
            continue
        reason = rules.integration_late_reason(dosing_at, start, hours=hours, zone_name=zone_name)
        if reason is None:
            continue
        _integration_late_refuse(party.organisation_id, reason)
        return [reason]
    return []


def _integration_late_refuse(organisation_id: int, reason: Reason) -> None:
    if settings_for(organisation_id).integration_late_refused:
        raise DomainError(
            f"{reason.message} The practice does not book integration sessions later.",
            code=reason.code,
            field="starts_at",
        )


def dosing_gate_warnings(*, courses: list, starts_at: datetime) -> list[Reason]:
    """Every reason the course gate would refuse a dosing session at `starts_at`, as known
    in advance (no vitals or attestations: those are checked on the day). Hard reasons
    first. Each reason names the client by record number when there are several."""
    from kapflow.clinical.course import dosing_reasons
    from kapflow.courses.models import Course
    from kapflow.courses.selectors import course_facts, gate_policy, with_facts

    ids = [c.pk for c in courses if c is not None]
    if not ids:
        return []
    rows = with_facts(Course.objects.filter(pk__in=ids))
    reasons: list[Reason] = []
    for course in sorted(rows, key=lambda c: c.pk):
        facts = course_facts(course, now=starts_at)
        found = dosing_reasons(facts, now=starts_at, policy=gate_policy(course))
        for r in found:
            message = r.message if len(ids) == 1 else f"Client #{course.client_id}: {r.message}"
            reasons.append(Reason(r.code, message, r.overridable))
    return sorted(reasons, key=lambda r: r.overridable)


# ---- booking --------------------------------------------------------------------------------


def _minutes(kind: str, minutes: int | None) -> int:
    minutes = rules.default_minutes(kind) if minutes is None else minutes
    if not isinstance(minutes, int) or not rules.MIN_MINUTES <= minutes <= rules.MAX_MINUTES:
        raise ValidationError(
            {
                "minutes": f"Length is from {rules.MIN_MINUTES} minutes "
                f"to {rules.MAX_MINUTES // 60} hours."
            }
        )
    return minutes


# Every date a booking or an exception may carry lies in these bounds: far from year 1 and
# 9999, where shifting a time to another zone or adding a length overflows.
def earliest() -> datetime:
    return datetime(2000, 1, 1, tzinfo=UTC)


def latest(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(days=5 * 366)


def check_bounds(value: datetime | None, field_name: str, now: datetime | None = None) -> None:
    """A field error unless `value` is between 2000 and five years from now."""
    if value is None:
        return
    if timezone.is_naive(value):
        raise ValidationError({field_name: "Give the date and time with its time zone."})
    try:
        inside = earliest() <= value <= latest(now)
    except (OverflowError, ValueError):
        inside = False
    if not inside:
        raise ValidationError({field_name: "Choose a date between 2000 and five years from now."})


def _check_start(starts_at: datetime, now: datetime, field_name: str = "starts_at") -> None:
    if starts_at is None or timezone.is_naive(starts_at):
        raise ValidationError({field_name: "Give the date and time with its time zone."})
    check_bounds(starts_at, field_name, now)
    if starts_at < now - timedelta(minutes=5):
        raise ValidationError({field_name: "Choose a time in the future."})
    if starts_at > now + timedelta(days=3 * 365):
        raise ValidationError({field_name: "Book at most three years ahead."})


def _create(
    *, actor, party: _Party, kind: str, starts_at, ends_at, zone_name, telehealth, telehealth_url,
    series=None, follows=None, rescheduled_from=None, now,
) -> Appointment:  # fmt: skip
    root = None
    if rescheduled_from is not None:
        root = rescheduled_from.root_id or rescheduled_from.pk
    single_course = party.clients[0][1] if len(party.clients) == 1 else None
    appt = Appointment(
        organisation_id=party.organisation_id, kind=kind, course=single_course,
        starts_at=starts_at, ends_at=ends_at, time_zone=zone_name, room=party.room,
        telehealth=bool(telehealth), telehealth_url=telehealth_url if telehealth else "",
        is_group=len(party.clients) > 1, series=series, follows=follows,
        rescheduled_from=rescheduled_from, root_id=root, created_by=actor.user, created_at=now,
    )  # fmt: skip
    appt.full_clean()
    appt.save()
    rows = []
    common = {"organisation_id": party.organisation_id, "appointment": appt,
              "starts_at": starts_at, "ends_at": ends_at, "live": True}  # fmt: skip
    for client, course in party.clients:
        rows.append(
            AppointmentParticipant(
                role=ParticipantRole.CLIENT, client=client, course=course, **common
            )
        )
    for role, membership in party.staff:
        rows.append(AppointmentParticipant(role=role, membership=membership, **common))
    for companion in party.companions:
        rows.append(
            AppointmentParticipant(role=ParticipantRole.COMPANION, companion=companion, **common)
        )
    AppointmentParticipant.objects.bulk_create(rows)
    return appt


@transaction.atomic
def appointment_book(
    *,
    actor: Membership,
    kind: str,
    starts_at: datetime,
    minutes: int | None = None,
    client_ids: list[int] | tuple = (),
    course_ids: list[int] | tuple = (),
    therapist_id: int | None = None,
    prescriber_id: int | None = None,
    room_id: int | None = None,
    telehealth: bool = False,
    telehealth_url: str = "",
    recurrence: rules.Recurrence | None = None,
    integration_starts_at: datetime | None = None,
    integration_minutes: int | None = None,
    confirm: bool = False,
    display_zone: str | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book an appointment (or a weekly series, or a group session). Clashes refuse with
    every clash; warnings (hours, time off, the dosing gate) refuse with
    ConfirmationRequired unless `confirm`. A dosing booking may carry the integration
    session (`integration_starts_at`), booked in the same transaction with `follows`."""
    now = now or timezone.now()
    if not policy.can_schedule(actor):
        raise NotFound()
    party = _resolve(
        actor=actor, kind=kind, client_ids=list(client_ids), course_ids=list(course_ids),
        therapist_id=therapist_id, prescriber_id=prescriber_id, room_id=room_id,
        telehealth=telehealth, telehealth_url=telehealth_url,
    )  # fmt: skip
    if not policy.can_book_appointment(actor, kind, [m.pk for _, m in party.staff]):
        raise PermissionDenied(
            "A partner's prescriber books only their own medical evaluations and follow-ups.",
            field="kind",
        )
    length = timedelta(minutes=_minutes(kind, minutes))
    _check_start(starts_at, now)
    zone_name = _zone(party)
    shown = display_zone or zone_name
    starts = _booking_starts(starts_at, zone_name, recurrence)
    spans = [(s, s + length) for s in starts]
    integration_span = None
    if integration_starts_at is not None:
        integration_span = _integration_span(
            party, kind=kind, recurrence=recurrence, dosing=(starts_at, starts_at + length),
            starts_at=integration_starts_at, minutes=integration_minutes, now=now,
        )  # fmt: skip

    _lock(party)
    all_spans = spans + ([integration_span] if integration_span else [])
    _licence_check(party, all_spans, telehealth=telehealth)
    integration_party = None
    if integration_span:
        # The companion's part is the dosing session; integration is client and clinicians.
        integration_party = _Party(
            party.organisation_id, party.clients, party.staff, [], party.room
        )
    clashes = _clashes(party, all_spans, shown)
    if clashes:
        raise SchedulingConflict(clashes)
    warnings = _booking_warnings(party, kind, starts_at, starts, all_spans, shown)
    if warnings and not confirm:
        raise ConfirmationRequired(warnings)

    series = None
    if recurrence is not None:
        series = AppointmentSeries(
            organisation_id=party.organisation_id, rrule=recurrence.as_rrule(),
            time_zone=zone_name, created_by=actor.user, created_at=now,
        )  # fmt: skip
        series.full_clean()
        series.save()
    made = [
        _create(
            actor=actor,
            party=party,
            kind=kind,
            starts_at=s,
            ends_at=e,
            zone_name=zone_name,
            telehealth=telehealth,
            telehealth_url=telehealth_url,
            series=series,
            now=now,
        )
        for s, e in spans
    ]
    if integration_span:
        made.append(
            _create(
                actor=actor,
                party=integration_party,
                kind=AppointmentKind.INTEGRATION,
                starts_at=integration_span[0],
                ends_at=integration_span[1],
                zone_name=zone_name,
                telehealth=telehealth,
                telehealth_url=telehealth_url,
                follows=made[0],
                now=now,
            )
        )
    for appt in made:
        audit_record(
            actor=actor, action="appointment.book", target=appt,
            client_id=party.clients[0][0].pk if len(party.clients) == 1 else None,
        )  # fmt: skip
    logger.info(
        "appointment.booked",
        extra={"appointment_id": made[0].pk, "count": len(made), "warnings": len(warnings)},
    )
    return Booking(made, warnings)


def _booking_starts(starts_at: datetime, zone_name: str, recurrence) -> list[datetime]:
    """The start of each appointment booked: one, or a weekly series expanded in the
    practice's zone (its problems named by their repeat_ fields)."""
    if recurrence is None:
        return [starts_at]
    problems = rules.recurrence_problems(recurrence)
    if problems:
        raise ValidationError({f"repeat_{k}": v for k, v in problems.items()})
    return rules.expand(starts_at, zone_name, recurrence)


def _integration_span(party, *, kind, recurrence, dosing, starts_at, minutes, now) -> tuple:
    """(start, end) of the integration session booked with a single dosing session `dosing`
    (its (start, end)), within the practice's integration window."""
    if kind != AppointmentKind.DOSING or recurrence is not None:
        raise ValidationError(
            {"integration_starts_at": "Only a single dosing session books its integration."}
        )
    _check_start(starts_at, now, "integration_starts_at")
    hours = integration_hours(party.organisation_id)
    problems = rules.integration_problems(*dosing, starts_at, hours=hours)
    if problems:
        raise ValidationError({"integration_starts_at": problems[0]})
    return (
        starts_at,
        starts_at + timedelta(minutes=_minutes(AppointmentKind.INTEGRATION, minutes)),
    )


def _booking_warnings(party, kind, starts_at, starts, all_spans, shown) -> list:
    """What a booking asks to confirm: a missing course and the dosing gate (dosing), a late
    integration, then the clinicians' hours and time off."""
    warnings = _availability(party, all_spans, shown)
    if kind == AppointmentKind.DOSING:
        courses = [c for _, c in party.clients]
        warnings = dosing_gate_warnings(courses=courses, starts_at=starts_at) + warnings
        if any(course is None for course in courses):
            warnings.insert(
                0, Reason("course.missing", "A dosing session belongs to a course of care.")
            )
    if kind == AppointmentKind.INTEGRATION:
        warnings = _integration_late(party, starts, shown) + warnings
    return warnings


def _zone(party: _Party) -> str:
    """The zone a booking is expanded in: the practice's office zone (the rooms, the
    clinicians' working day)."""
    from kapflow.accounts.models import Organisation

    return organisation_zone(Organisation.objects.get(pk=party.organisation_id))


# ---- changes to one appointment -------------------------------------------------------------


def _locked(actor, appointment_id: int, version: int | None) -> Appointment:
    if not policy.can_schedule(actor):
        raise audit_not_found(actor=actor, model=Appointment, object_id=appointment_id)
    appt = (
        policy.appointments_queryset(actor)
        .select_for_update(of=("self",))
        .filter(pk=appointment_id)
        .select_related("room", "course")
        .first()
    )
    if appt is None:
        raise audit_not_found(
            actor=actor, model=Appointment, object_id=appointment_id,
            message="Appointment not found.",
        )  # fmt: skip
    if not policy.can_change_appointment(actor, appt):
        # Seen (their client's appointment) but not theirs to change: 403 (decision 0004).
        raise PermissionDenied(
            "A partner's prescriber changes only their own medical evaluations and follow-ups."
        )
    if version is not None and version != appt.version:
        raise DomainError(
            "Someone changed this appointment since you opened it. Reload it and try again.",
            code="scheduling.stale",
            field="version",
        )
    return appt


def _set_status(appt, actor, status, reason, now) -> None:
    appt.status = status
    appt.status_reason = reason
    appt.status_changed_at = now
    appt.status_changed_by = actor.user
    appt.version += 1
    appt.full_clean()
    appt.save()
    AppointmentParticipant.objects.filter(appointment=appt).update(live=status in LIVE_STATUSES)


def _party_of(appt: Appointment) -> _Party:
    rows = list(
        AppointmentParticipant.objects.filter(appointment=appt).select_related(
            "client", "course", "membership__user", "companion"
        )
    )
    return _Party(
        appt.organisation_id,
        [(p.client, p.course) for p in rows if p.client_id],
        [(p.role, p.membership) for p in rows if p.membership_id],
        [p.companion for p in rows if p.companion_id],
        appt.room,
    )


@transaction.atomic
def appointment_reschedule(
    *,
    actor: Membership,
    appointment_id: int,
    version: int | None,
    starts_at: datetime,
    minutes: int | None = None,
    room_id: int | None = None,
    keep_room: bool = True,
    reason: str = "",
    confirm: bool = False,
    display_zone: str | None = None,
    now: datetime | None = None,
) -> Booking:
    """Move a scheduled appointment: the old row becomes `rescheduled` (history), a new row
    with the new times points back to it (`rescheduled_from`), with the same people. The
    clashes and warnings are checked again; an integration session that followed it now
    follows the new row."""
    now = now or timezone.now()
    old = _locked(actor, appointment_id, version)
    if old.status != AppointmentStatus.SCHEDULED:
        raise DomainError(
            "Only a scheduled appointment can be moved.", code="scheduling.not_scheduled"
        )
    _check_start(starts_at, now)
    length = timedelta(
        minutes=_minutes(old.kind, minutes if minutes is not None else old.duration_minutes)
    )
    party = _party_of(old)
    if not keep_room:
        if room_id is None:
            party.room = None
        else:
            party.room = (
                Room.objects.for_org(old.organisation_id).filter(pk=room_id, is_active=True).first()
            )
            if party.room is None:
                raise ValidationError({"room": "Choose one of the practice's rooms."})
    if party.room is None and not old.telehealth:
        raise ValidationError({"room": "Choose a room, or telehealth."})
    span = (starts_at, starts_at + length)
    _lock(party)
    _licence_check(party, [span], telehealth=old.telehealth)
    shown = display_zone or old.time_zone
    clashes = _clashes(party, [span], shown, exclude_ids={old.pk})
    if clashes:
        raise SchedulingConflict(clashes)
    warnings = _availability(party, [span], shown)
    if old.kind == AppointmentKind.DOSING:
        warnings = (
            dosing_gate_warnings(courses=[c for _, c in party.clients], starts_at=starts_at)
            + warnings
        )
    followers = list(Appointment.objects.filter(follows=old, status=AppointmentStatus.SCHEDULED))
    if old.kind == AppointmentKind.DOSING and followers:
        hours = integration_hours(old.organisation_id)
        for f in followers:
            if rules.integration_problems(span[0], span[1], f.starts_at, hours=hours):
                reason = Reason(
                    "integration.outside_window",
                    f"The integration session booked for it is no longer within {hours} "
                    "hours after the dosing session; move it too.",
                    overridable=True,
                )
                _integration_late_refuse(old.organisation_id, reason)
                warnings.append(reason)
    if old.kind == AppointmentKind.INTEGRATION:
        warnings = _integration_late(party, [span[0]], shown, follows=old.follows) + warnings
    if warnings and not confirm:
        raise ConfirmationRequired(warnings)
    reason = (reason or "").strip()[:500]
    _set_status(old, actor, AppointmentStatus.RESCHEDULED, reason or "Rescheduled.", now)
    new = _create(
        actor=actor, party=party, kind=old.kind, starts_at=span[0], ends_at=span[1],
        zone_name=old.time_zone, telehealth=old.telehealth, telehealth_url=old.telehealth_url,
        series=old.series, follows=old.follows, rescheduled_from=old, now=now,
    )  # fmt: skip
    Appointment.objects.filter(pk__in=[f.pk for f in followers]).update(follows=new)
    client_id = party.clients[0][0].pk if len(party.clients) == 1 else None
    audit_record(actor=actor, action="appointment.reschedule", target=old, client_id=client_id,
                 changed_fields=["starts_at", "ends_at"])  # fmt: skip
    audit_record(actor=actor, action="appointment.book", target=new, client_id=client_id)
    return Booking([new], warnings)


@transaction.atomic
def appointment_cancel(
    *, actor: Membership, appointment_id: int, version: int | None, reason: str,
    following: bool = False, now: datetime | None = None,
) -> Appointment:  # fmt: skip
    """Cancel a scheduled appointment with a written reason (required). With `following`,
    the later scheduled appointments of its series are cancelled too, with the same reason."""
    now = now or timezone.now()
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError({"reason": "Say why the appointment is cancelled."})
    if len(reason) > 500 or "\x00" in reason:
        raise ValidationError({"reason": "Keep the reason under 500 characters."})
    appt = _locked(actor, appointment_id, version)
    if appt.status not in (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN):
        raise DomainError(
            "Only a scheduled or checked-in appointment can be cancelled; one in session ends "
            "with its record.",
            code="scheduling.not_scheduled",
            field="status",
        )
    _refuse_if_session_open(appt)
    targets = [appt]
    if following and appt.series_id:
        targets += list(
            policy.appointments_queryset(actor)
            .select_for_update(of=("self",))
            .filter(
                series_id=appt.series_id,
                status=AppointmentStatus.SCHEDULED,
                starts_at__gt=appt.starts_at,
            )
            .select_related("course")
            .order_by("starts_at")
        )
    for target in targets:
        _set_status(target, actor, AppointmentStatus.CANCELLED, reason, now)
        audit_record(actor=actor, action="appointment.cancel", target=target,
                     client_id=target.course.client_id if target.course else None)  # fmt: skip
    return appt


# A client may be checked in (or a session begun) this long before the start: early
# arrivals are checked in, and a dosing day's pre-session checks start before the hour.
CHECK_IN_EARLY = timedelta(hours=2)


def _not_yet(appt: Appointment, now: datetime, what: str) -> None:
    if appt.starts_at - CHECK_IN_EARLY > now:
        raise ValidationError(
            {"status": f"{what} at most two hours before the start; this appointment starts "
                       f"{rules.local_label(appt.starts_at, appt.time_zone)}."}
        )  # fmt: skip
    if appt.ends_at + timedelta(hours=12) < now:
        raise ValidationError(
            {"status": f"{what} on the day: this appointment ended more than 12 hours ago. "
                       "Mark it completed or did not attend instead."}
        )  # fmt: skip


def _client_id(appt: Appointment) -> int | None:
    return appt.course.client_id if appt.course_id else None


@transaction.atomic
def appointment_check_in(
    *, actor: Membership, appointment_id: int, version: int | None, now: datetime | None = None
) -> Appointment:
    """The client is here: scheduled -> checked in (from two hours before the start)."""
    now = now or clock.now()
    appt = _locked(actor, appointment_id, version)
    if appt.status != AppointmentStatus.SCHEDULED:
        raise DomainError(
            f"Only a scheduled appointment can be checked in; this one is "
            f"{appt.get_status_display().lower()}.",
            code="scheduling.not_scheduled",
            field="status",
        )
    _not_yet(appt, now, "Check in")
    _set_status(appt, actor, AppointmentStatus.CHECKED_IN, "", now)
    audit_record(actor=actor, action="appointment.check_in", target=appt,
                 client_id=_client_id(appt))  # fmt: skip
    return appt


@transaction.atomic
def appointment_mark(
    *, actor: Membership, appointment_id: int, version: int | None, status: str,
    reason: str = "", now: datetime | None = None,
) -> Appointment:  # fmt: skip
    """Record that an appointment took place (completed) or the client did not come
    (no_show, with a reason); neither before it starts. Completing a preparation or
    integration appointment writes its record on the course (appointment_complete); a
    dosing appointment is completed only by its session's discharge (decision 0054)."""
    now = now or clock.now()
    if status not in (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW):
        raise ValidationError({"status": "Mark an appointment completed or did not attend."})
    appt = _locked(actor, appointment_id, version)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) > 500 or "\x00" in reason:
        raise ValidationError({"reason": "Keep the reason under 500 characters."})
    if status == AppointmentStatus.NO_SHOW and not reason:
        raise ValidationError({"reason": "Say what happened (for example: no reply to two calls)."})
    if status == AppointmentStatus.COMPLETED and appt.kind in ENCOUNTER_KINDS:
        return _complete(actor, appt, note=reason, now=now)
    if status == AppointmentStatus.NO_SHOW:
        _refuse_if_session_open(appt)
    allowed = (
        (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN)
        if status == AppointmentStatus.NO_SHOW
        else OPEN_STATUSES
    )
    if appt.status not in allowed:
        raise DomainError(
            f"This appointment is {appt.get_status_display().lower()}, so it cannot be marked "
            f"{AppointmentStatus(status).label.lower()}.",
            code="scheduling.not_scheduled",
            field="status",
        )
    if appt.starts_at > now:
        raise ValidationError({"status": "The appointment has not started yet."})
    _set_status(appt, actor, status, reason, now)
    audit_record(actor=actor, action=f"appointment.{status}", target=appt,
                 client_id=_client_id(appt))  # fmt: skip
    appt.integration_skipped = []
    return appt


@transaction.atomic
def appointment_start(
    *, actor: Membership, appointment_id: int, version: int | None, now: datetime | None = None
) -> Appointment:
    """Begin a preparation or integration session from its appointment: scheduled or
    checked in -> in session. (A dosing appointment starts through its dosing session:
    encounters.services.session_open and session_start.)"""
    now = now or clock.now()
    appt = _locked(actor, appointment_id, version)
    if appt.kind not in (AppointmentKind.PREPARATION, AppointmentKind.INTEGRATION):
        raise ValidationError(
            {"kind": "Only preparation and integration sessions start here; a dosing session "
                     "starts on its session screen."}
        )  # fmt: skip
    if appt.status not in (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN):
        raise DomainError(
            f"This appointment is {appt.get_status_display().lower()}; only a scheduled or "
            "checked-in one can start.",
            code="scheduling.not_scheduled",
            field="status",
        )
    _not_yet(appt, now, "Start the session")
    _set_status(appt, actor, AppointmentStatus.IN_SESSION, "", now)
    audit_record(actor=actor, action="appointment.start", target=appt,
                 client_id=_client_id(appt))  # fmt: skip
    return appt


@transaction.atomic
def appointment_complete(
    *, actor: Membership, appointment_id: int, version: int | None, note: str = "",
    now: datetime | None = None,
) -> Appointment:  # fmt: skip
    """Finish a preparation or integration appointment: its record is written on each
    client's course (courses.services.course_record, linked from the participant row) and
    the appointment is completed, in one transaction."""
    now = now or clock.now()
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > 500 or "\x00" in note:
        raise ValidationError({"note": "Keep the note under 500 characters."})
    appt = _locked(actor, appointment_id, version)
    return _complete(actor, appt, note=note, now=now)


def _complete(actor, appt: Appointment, *, note: str, now: datetime) -> Appointment:
    if appt.kind == AppointmentKind.DOSING:
        raise DomainError(
            "A dosing appointment is completed by discharging its dosing session.",
            code="scheduling.dosing_by_session",
            field="status",
        )
    if appt.status not in OPEN_STATUSES:
        raise DomainError(
            f"This appointment is {appt.get_status_display().lower()}, so it cannot be completed.",
            code="scheduling.not_scheduled",
            field="status",
        )
    if appt.starts_at > now:
        raise ValidationError({"status": "The appointment has not started yet."})
    _set_status(appt, actor, AppointmentStatus.COMPLETED, note, now)
    audit_record(actor=actor, action="appointment.completed", target=appt,
                 client_id=_client_id(appt))  # fmt: skip
    appt.integration_skipped = (
        _record_session(actor, appt, note, now) if appt.kind in ENCOUNTER_KINDS else []
    )
    return appt


def _record_session(actor, appt: Appointment, note: str, now: datetime) -> list[str]:
    """Record a completed preparation or integration session on each client's open course
    (and bring its due items up to date), in the caller's transaction, and link each event
    from the client's participant row. A course that refuses the record (no dosing session
    yet, closed, not the actor's to record) is skipped: completing the appointment still
    stands. Returns one message per skipped course."""
    from django.core.exceptions import PermissionDenied

    from kapflow.courses import services as course_services

    rows = list(
        AppointmentParticipant.objects.filter(
            appointment=appt,
            client__isnull=False,
            course__isnull=False,
            course__closed_at__isnull=True,
            course_event__isnull=True,
        ).order_by("course_id")
    )
    label = AppointmentKind(appt.kind).label
    skipped = []
    for row in rows:
        try:
            with transaction.atomic():
                event = course_services.course_record(
                    actor=actor, course_id=row.course_id, kind=appt.kind,
                    occurred_at=min(appt.starts_at, now),
                    note=note or f"{label} (appointment #{appt.pk}) completed.", now=now,
                    data={"appointment_id": appt.pk},
                )  # fmt: skip
                AppointmentParticipant.objects.filter(pk=row.pk).update(course_event=event)
                course_services.due_items_refresh(course_id=row.course_id, now=now)
        except (DomainError, PermissionDenied, ValidationError) as exc:
            message = getattr(exc, "message", "") or "refused"
            skipped.append(
                f"Course #{row.course_id}: the {label.lower()} was not recorded ({message})."
            )
    return skipped


# The encounter's steps and the appointment status each leads to, with the statuses it may
# come from (decision 0054). encounters.services calls encounter_status; nothing else
# writes these transitions.
ENCOUNTER_STEPS = {
    "open": (AppointmentStatus.CHECKED_IN, (AppointmentStatus.SCHEDULED,)),
    "start": (
        AppointmentStatus.IN_SESSION,
        (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN),
    ),
    "finish": (AppointmentStatus.COMPLETED, OPEN_STATUSES),
    "abandon": (AppointmentStatus.CHECKED_IN, (AppointmentStatus.IN_SESSION,)),
}


def _refuse_if_session_open(appt: Appointment) -> None:
    """An appointment whose dosing session is open is not cancelled or marked missed: the
    session ends first (discharged or abandoned), and moves the appointment itself."""
    from kapflow.encounters.models import OPEN_STATES, DosingSession  # the floor above

    if DosingSession.objects.filter(appointment_id=appt.pk, state__in=OPEN_STATES).exists():
        raise DomainError(
            "A dosing session is open for this appointment: discharge or abandon it first.",
            code="scheduling.session_open",
            field="status",
        )


def encounter_status(*, actor: Membership, appointment_id: int, step: str, now: datetime) -> None:
    """Move a dosing appointment along with its session (opened, started, discharged,
    abandoned), in the encounter's transaction. The encounter's service has already asked
    who may run it; a step the appointment is past is a no-op (a discharge after someone
    marked the appointment by hand changes nothing)."""
    status, sources = ENCOUNTER_STEPS[step]
    appt = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("course")
        .filter(pk=appointment_id)
        .first()
    )
    if appt is None or appt.status not in sources:
        return
    _set_status(appt, actor, status, "", now)
    audit_record(actor=actor, action=f"appointment.encounter_{step}", target=appt,
                 client_id=_client_id(appt))  # fmt: skip


# ---- availability ---------------------------------------------------------------------------


def _availability_member(actor, membership_id: int, *, probed=None) -> Membership:
    """The member whose hours the actor may change; else NotFound, recorded as a denied
    access to `probed` (model, id) when given (a rule or an exception), else to the member."""
    membership = (
        Membership.objects.filter(pk=membership_id, is_active=True)
        .select_related("organisation", "user")
        .first()
    )
    if membership is None or not policy.can_manage_availability(actor, membership):
        model, object_id = probed or (Membership, membership_id)
        raise audit_not_found(actor=actor, model=model, object_id=object_id)
    return membership


def _member_zone(membership) -> str:
    return membership.user.time_zone or organisation_zone(membership.organisation)


@transaction.atomic
def availability_rule_add(
    *, actor: Membership, membership_id: int, weekday: int, start_time: time, end_time: time,
    time_zone: str = "", valid_from=None, valid_until=None,
) -> AvailabilityRule:  # fmt: skip
    membership = _availability_member(actor, membership_id)
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise ValidationError({"end_time": "The end must be after the start."})
    if valid_from and valid_until and valid_until < valid_from:
        raise ValidationError({"valid_until": "The end date must be after the start date."})
    rule = AvailabilityRule(
        organisation_id=membership.organisation_id, membership=membership, weekday=weekday,
        start_time=start_time, end_time=end_time,
        time_zone=time_zone or _member_zone(membership),
        valid_from=valid_from, valid_until=valid_until,
    )  # fmt: skip
    rule.full_clean()
    rule.save()
    audit_record(actor=actor, action="availability.rule_add", target=rule)
    return rule


@transaction.atomic
def availability_rule_remove(*, actor: Membership, rule_id: int) -> None:
    rule = AvailabilityRule.objects.filter(pk=rule_id).select_related("membership").first()
    if rule is None:
        raise NotFound()
    _availability_member(actor, rule.membership_id, probed=(AvailabilityRule, rule_id))
    audit_record(actor=actor, action="availability.rule_remove", target=rule)
    rule.delete()


@transaction.atomic
def availability_exception_add(
    *, actor: Membership, membership_id: int, starts_at: datetime, ends_at: datetime,
    available: bool = False, reason: str = "",
) -> AvailabilityException:  # fmt: skip
    membership = _availability_member(actor, membership_id)
    check_bounds(starts_at, "starts_at")
    check_bounds(ends_at, "ends_at")
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError({"ends_at": "The end must be after the start."})
    exception = AvailabilityException(
        organisation_id=membership.organisation_id, membership=membership, starts_at=starts_at,
        ends_at=ends_at, available=bool(available), reason=(reason or "").strip()[:200],
    )  # fmt: skip
    exception.full_clean()
    exception.save()
    audit_record(actor=actor, action="availability.exception_add", target=exception)
    return exception


@transaction.atomic
def availability_exception_remove(*, actor: Membership, exception_id: int) -> None:
    exception = AvailabilityException.objects.filter(pk=exception_id).first()
    if exception is None:
        raise NotFound()
    _availability_member(
        actor, exception.membership_id, probed=(AvailabilityException, exception_id)
    )
    audit_record(actor=actor, action="availability.exception_remove", target=exception)
    exception.delete()


# ---- rooms ----------------------------------------------------------------------------------


@transaction.atomic
def room_create(*, actor: Membership, name: str, capacity: int = 1, state: str = "") -> Room:
    if not policy.can_manage_rooms(actor):
        raise NotFound()
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the room."})
    if Room.objects.for_org(actor.organisation).filter(name__iexact=name).exists():
        raise ValidationError({"name": "The practice already has a room with this name."})
    room = Room(organisation=actor.organisation, name=name, capacity=capacity, state=state or "")
    room.full_clean()
    room.save()
    audit_record(actor=actor, action="room.create", target=room)
    return room


@transaction.atomic
def room_update(
    *, actor: Membership, room_id: int, name: str, capacity: int, is_active: bool,
    state: str | None = None,
) -> Room:  # fmt: skip
    if not policy.can_manage_rooms(actor):
        raise NotFound()
    room = Room.objects.for_org(actor.organisation).select_for_update().filter(pk=room_id).first()
    if room is None:
        raise audit_not_found(actor=actor, model=Room, object_id=room_id)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the room."})
    clash = Room.objects.for_org(actor.organisation).filter(name__iexact=name).exclude(pk=room.pk)
    if clash.exists():
        raise ValidationError({"name": "The practice already has a room with this name."})
    room.name, room.capacity, room.is_active = name, capacity, bool(is_active)
    if state is not None:
        room.state = state
    room.full_clean()
    room.save()
    audit_record(actor=actor, action="room.update", target=room)
    return room


# ---- calendar feeds -------------------------------------------------------------------------


@transaction.atomic
def calendar_feed_create(
    *, actor: Membership, show_details: bool = False
) -> tuple[CalendarFeed, str]:
    """A new secret feed URL token for the actor (shown once); any earlier feed of the same
    membership stops working."""
    if not policy.can_use_calendar_feed(actor):
        raise NotFound()
    now = timezone.now()
    CalendarFeed.objects.filter(membership=actor, revoked_at__isnull=True).update(revoked_at=now)
    raw = secrets.token_urlsafe(32)
    feed = CalendarFeed(
        user=actor.user, membership=actor, token_hash=hash_secret(raw),
        show_details=bool(show_details), created_at=now,
    )  # fmt: skip
    feed.full_clean()
    feed.save()
    audit_record(actor=actor, action="calendar_feed.create", target=feed)
    return feed, raw


@transaction.atomic
def calendar_feed_revoke(*, actor: Membership) -> int:
    """Revoke the actor's feed(s); the URL answers 404 from now on."""
    if not policy.can_use_calendar_feed(actor):
        raise NotFound()
    feeds = list(CalendarFeed.objects.filter(membership=actor, revoked_at__isnull=True))
    CalendarFeed.objects.filter(pk__in=[f.pk for f in feeds]).update(revoked_at=timezone.now())
    for feed in feeds:
        audit_record(actor=actor, action="calendar_feed.revoke", target=feed)
    return len(feeds)


def calendar_feed_used(*, feed: CalendarFeed, now: datetime | None = None) -> None:
    """Record a fetch of the feed: `last_used_at`, and an audit row (the feed id only; the
    feed shows no PHI by default). Two statements whatever the feed holds."""
    now = now or timezone.now()
    CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    audit_record(actor=feed.membership, action="calendar_feed.read", target=feed)


# ---- self-scheduling in the portal (issue 16, decision 0046) ---------------------------------


def _own_course(actor):
    """The acting client's record and open course (NotFound without either)."""
    from kapflow.courses.models import Course
    from kapflow.patients.models import Client

    client = Client.objects.filter(
        organisation_id=actor.organisation_id, user_id=actor.user_id
    ).first()
    course = (
        Course.objects.filter(client=client, closed_at__isnull=True)
        .select_related("therapist__user", "prescriber__user")
        .first()
        if client is not None
        else None
    )
    if course is None:
        raise NotFound("You have no open course of care to book in.")
    return client, course


def _self_party(client, course, kind: str) -> _Party:
    """Who a self-booked session is with: the course's therapist; a follow-up is the
    prescriber's."""
    if kind == AppointmentKind.FOLLOWUP:
        if course.prescriber_id is None:
            raise DomainError(
                "Your course has no prescriber yet; ask the practice to book the follow-up.",
                code="scheduling.no_prescriber",
                field="kind",
            )
        staff = [(ParticipantRole.PRESCRIBER, course.prescriber)]
    else:
        staff = [(ParticipantRole.THERAPIST, course.therapist)]
    return _Party(course.organisation_id, [(client, course)], staff, [], None)


def _self_check(actor, party: _Party, kind: str, span, *, now, exclude_ids=frozenset()) -> None:
    """The staff booking's checks, refused outright (a client cannot confirm a warning):
    licensure (LicenceRefused), clashes (SchedulingConflict), working hours and time off,
    and for integration the practice's window after the latest dosing session."""
    cfg = settings_for(party.organisation_id)
    if span[0] < now + timedelta(hours=cfg.self_book_notice_hours):
        raise ValidationError(
            {"starts_at": f"Book at least {cfg.self_book_notice_hours} hours ahead."}
        )
    zone_name = _zone(party)
    _lock(party)
    _licence_check(party, [span], telehealth=True)
    clashes = _clashes(party, [span], zone_name, exclude_ids=set(exclude_ids))
    if clashes:
        raise SchedulingConflict(clashes)
    outside = _availability(party, [span], zone_name)
    if outside:
        raise SchedulingConflict(outside)
    if kind == AppointmentKind.INTEGRATION:
        dosing_at = _integration_dosing_at(party, span[0])
        if dosing_at is None:
            raise DomainError(
                "An integration session follows a dosing session; none is booked or recorded.",
                code="integration.no_dosing",
                field="starts_at",
            )
        reason = rules.integration_late_reason(
            dosing_at, span[0], hours=integration_hours(party.organisation_id), zone_name=zone_name
        )
        if reason is not None:
            raise DomainError(reason.message, code=reason.code, field="starts_at")


@transaction.atomic
def appointment_self_book(
    *, actor: Membership, kind: str, starts_at: datetime, now: datetime | None = None
) -> Appointment:
    """A client books their own preparation, integration or follow-up session (by
    telehealth) within the practice's rules; the same checks as a staff booking apply."""
    now = now or clock.now()
    cfg = settings_for(actor.organisation_id)
    if not policy.can_self_schedule(actor, kind, cfg.self_book_kinds):
        raise PermissionDenied(
            "The practice books this kind of session; ask them, or request one.", field="kind"
        )
    client, course = _own_course(actor)
    _check_start(starts_at, now)
    party = _self_party(client, course, kind)
    span = (starts_at, starts_at + timedelta(minutes=_minutes(kind, None)))
    _self_check(actor, party, kind, span, now=now)
    appt = _create(
        actor=actor, party=party, kind=kind, starts_at=span[0], ends_at=span[1],
        zone_name=_zone(party), telehealth=True, telehealth_url="", now=now,
    )  # fmt: skip
    audit_record(actor=actor, action="appointment.self_book", target=appt, client_id=client.pk)
    return appt


def _own_appointment(actor, appointment_id: int, now: datetime) -> Appointment:
    client, _course = _own_course(actor)
    appt = (
        Appointment.objects.select_for_update(of=("self",))
        .filter(
            pk=appointment_id,
            organisation_id=actor.organisation_id,
            participants__client=client,
        )
        .first()
    )
    if appt is None:
        raise NotFound("Appointment not found.")
    cfg = settings_for(actor.organisation_id)
    if not policy.can_self_schedule(actor, appt.kind, cfg.self_book_kinds):
        raise PermissionDenied("Ask the practice to change this appointment.")
    if appt.status != AppointmentStatus.SCHEDULED:
        raise DomainError(
            "Only a scheduled appointment can be changed.", code="scheduling.not_scheduled"
        )
    if appt.starts_at - now < timedelta(hours=cfg.self_cancel_hours):
        raise DomainError(
            f"Within {cfg.self_cancel_hours} hours of the start, please call the practice.",
            code="scheduling.cancel_window",
        )
    return appt


@transaction.atomic
def appointment_self_cancel(
    *, actor: Membership, appointment_id: int, now: datetime | None = None
) -> Appointment:
    """A client cancels their own self-bookable session before the cancellation window."""
    now = now or clock.now()
    appt = _own_appointment(actor, appointment_id, now)
    _set_status(appt, actor, AppointmentStatus.CANCELLED, "Cancelled by the client.", now)
    audit_record(
        actor=actor, action="appointment.self_cancel", target=appt, client_id=appt.course.client_id
    )
    return appt


@transaction.atomic
def appointment_self_move(
    *, actor: Membership, appointment_id: int, starts_at: datetime, now: datetime | None = None
) -> Appointment:
    """A client moves their own session: the old row becomes `rescheduled`, as for staff."""
    now = now or clock.now()
    old = _own_appointment(actor, appointment_id, now)
    _check_start(starts_at, now)
    party = _party_of(old)
    span = (starts_at, starts_at + (old.ends_at - old.starts_at))
    _self_check(actor, party, old.kind, span, now=now, exclude_ids={old.pk})
    _set_status(old, actor, AppointmentStatus.RESCHEDULED, "Moved by the client.", now)
    new = _create(
        actor=actor, party=party, kind=old.kind, starts_at=span[0], ends_at=span[1],
        zone_name=old.time_zone, telehealth=old.telehealth, telehealth_url=old.telehealth_url,
        follows=old.follows, rescheduled_from=old, now=now,
    )  # fmt: skip
    client_id = party.clients[0][0].pk
    audit_record(actor=actor, action="appointment.self_move", target=new, client_id=client_id)
    return new


@transaction.atomic
def dosing_request(*, actor: Membership, note: str = "") -> None:
    """A client asks for a dosing session (staff book dosing): the course's therapist is
    e-mailed a link, with nothing clinical in the message."""
    from kapflow.scheduling.tasks import dosing_request_send

    if not policy.is_client_actor(actor):
        raise NotFound()
    client, course = _own_course(actor)
    if len(note or "") > 500:
        raise ValidationError({"note": "At most 500 characters."})
    audit_record(
        actor=actor, action="appointment.dosing_request", target=course, client_id=client.pk
    )
    transaction.on_commit(lambda: dosing_request_send.enqueue(course.pk))
