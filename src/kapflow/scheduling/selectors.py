"""Scheduling read paths: a clinician's week, one appointment, the panels other pages
include (a course's, a client's and a companion's upcoming appointments, today's count on
the staff home), rooms, availability, and the rows of a calendar feed.

Every list is a fixed number of queries whatever its size. Reads that show client names
write one audit row per client shown (one INSERT). Times are returned in UTC; templates show
them in the viewer's zone (ActorMiddleware activates it) and name the zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import CLINICIAN_ROLES, Membership, Role
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.clinical import scheduling as rules
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound
from kapflow.scheduling.models import (
    LIVE_STATUSES,
    OPEN_STATUSES,
    Appointment,
    AppointmentKind,
    AppointmentParticipant,
    AppointmentStatus,
    AvailabilityException,
    AvailabilityRule,
    CalendarFeed,
    ParticipantRole,
    Room,
)

# The client sees the video link from this long before the start until the end: early
# enough to test the connection, late enough that an old link does not linger.
TELEHEALTH_LINK_BEFORE = timedelta(hours=24)
# A calendar feed holds the last 30 days and the next year.
FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)
RANGE_MAX = timedelta(days=62)
LONGEST = timedelta(minutes=rules.MAX_MINUTES)


def _participants_prefetch() -> Prefetch:
    return Prefetch(
        "participants",
        queryset=AppointmentParticipant.objects.select_related(
            "client", "membership__user", "companion__user"
        ).order_by("role", "id"),
    )


ANOTHER_CLIENT = "another client"


def mark_shown(actor, appointments) -> None:
    """Set `shown` on every prefetched participant: False for a client the actor may not see
    (policy.clients_queryset), and for that client's companion. A group session is visible
    through any one of its clients; the others are then shown only as "another client".
    One query whatever the number of appointments."""
    ids = {
        p.client_id or (p.companion.client_id if p.companion_id else None)
        for appt in appointments
        for p in appt.participants.all()
    } - {None}
    visible = (
        set(policy.clients_queryset(actor).filter(pk__in=ids).values_list("pk", flat=True))
        if ids
        else set()
    )
    for appt in appointments:
        for p in appt.participants.all():
            if p.client_id:
                p.shown = p.client_id in visible
            elif p.companion_id:
                p.shown = p.companion.client_id in visible
            else:
                p.shown = True


def _audit_clients(actor, appointments, action: str) -> None:
    """One audit row per client shown (mark_shown first)."""
    clients = {}
    for appt in appointments:
        for p in appt.participants.all():
            if p.client_id and getattr(p, "shown", True):
                clients[p.client_id] = p.client
    audit_record_many(actor=actor, action=action, targets=list(clients.values()))


class _Seen:
    """An audit target: the appointment, read for one client shown on it."""

    def __init__(self, appt, client_id):
        self._meta, self.pk, self.client_id = appt._meta, appt.pk, client_id


# ---- a clinician's week ---------------------------------------------------------------------


@dataclass
class Day:
    day: date
    appointments: list = field(default_factory=list)


@dataclass
class Week:
    membership: Membership
    zone_name: str
    monday: date
    days: list[Day]
    starts_at: datetime
    ends_at: datetime

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)

    @property
    def count(self) -> int:
        return sum(len(d.appointments) for d in self.days)


def week_bounds(week_of: date, zone_name: str) -> tuple[date, datetime, datetime]:
    """(Monday, its local midnight, the next Monday's local midnight) in `zone_name`."""
    monday = week_of - timedelta(days=week_of.weekday())
    start = rules.to_aware(datetime.combine(monday, datetime.min.time()), zone_name).astimezone(UTC)
    end = rules.to_aware(
        datetime.combine(monday + timedelta(days=7), datetime.min.time()), zone_name
    ).astimezone(UTC)
    return monday, start, end


def schedule_member(*, actor, membership_id: int | None) -> Membership:
    """The member whose schedule the actor asks for: themself by default; another member of
    the same practice for an admin. Anyone else's: NotFound."""
    if membership_id is None or membership_id == actor.pk:
        if not policy.can_schedule(actor):
            raise NotFound()
        return actor
    membership = (
        Membership.objects.filter(pk=membership_id, is_active=True)
        .select_related("user", "organisation")
        .first()
    )
    if membership is None or not policy.can_see_schedule_of(actor, membership):
        raise audit_not_found(actor=actor, model=Membership, object_id=membership_id)
    return membership


def appointments_for_member(
    *, actor, membership: Membership, starts_at: datetime, ends_at: datetime
) -> list[Appointment]:
    """The member's appointments overlapping [starts_at, ends_at) (rescheduled rows left
    out, cancelled ones kept), with their participants: two queries and one audit INSERT."""
    rows = (
        AppointmentParticipant.objects.filter(
            membership=membership,
            starts_at__lt=ends_at,
            ends_at__gt=starts_at,
            # No appointment is longer than MAX_MINUTES: a lower bound on starts_at turns the
            # (membership, starts_at) index scan into a tight range.
            starts_at__gt=starts_at - LONGEST,
        )
        .exclude(appointment__status=AppointmentStatus.RESCHEDULED)
        .select_related("appointment__room")
        .prefetch_related(Prefetch("appointment__participants", queryset=_participants_qs()))
        .order_by("starts_at", "appointment_id")
    )
    appointments = [p.appointment for p in rows]
    mark_shown(actor, appointments)
    _audit_clients(actor, appointments, "appointment.list")
    return appointments


def _participants_qs():
    return AppointmentParticipant.objects.select_related(
        "client", "membership__user", "companion__user"
    ).order_by("role", "id")


def week_for_member(
    *, actor, membership_id: int | None = None, week_of: date, zone_name: str
) -> Week:
    """A clinician's week (Monday to Sunday in `zone_name`, the viewer's zone)."""
    membership = schedule_member(actor=actor, membership_id=membership_id)
    monday, start, end = week_bounds(week_of, zone_name)
    appointments = appointments_for_member(
        actor=actor, membership=membership, starts_at=start, ends_at=end
    )
    tz = rules.ZoneInfo(zone_name)
    days = [Day(monday + timedelta(days=i)) for i in range(7)]
    for appt in appointments:
        index = (appt.starts_at.astimezone(tz).date() - monday).days
        days[min(max(index, 0), 6)].appointments.append(appt)
    return Week(membership, zone_name, monday, days, start, end)


def schedulable_members(*, actor) -> list[Membership]:
    """Members whose week an admin may open, and the clinicians a booking may name: the
    practice's therapists and prescribers, and its partners' prescribers."""
    from kapflow.accounts.models import Partnership

    partners = Partnership.objects.filter(practice_id=actor.organisation_id).values("partner_id")
    return list(
        Membership.objects.filter(is_active=True)
        .filter(
            Q(organisation_id=actor.organisation_id, roles__role__in=sorted(CLINICIAN_ROLES))
            | Q(organisation_id__in=partners, roles__role=Role.PRESCRIBER)
        )
        .select_related("user", "organisation")
        .prefetch_related("roles")
        .distinct()
        .order_by("user__full_name", "pk")
    )


# ---- one appointment ------------------------------------------------------------------------


def appointment_get_for_actor(*, actor, appointment_id: int) -> Appointment:
    """One appointment the staff actor may see, with participants; audited. NotFound else."""
    appt = (
        policy.appointments_queryset(actor)
        .filter(pk=appointment_id)
        .select_related("room", "course", "organisation", "rescheduled_from", "follows", "series")
        .prefetch_related(_participants_prefetch())
        .first()
    )
    if appt is None:
        raise audit_not_found(
            actor=actor, model=Appointment, object_id=appointment_id,
            message="Appointment not found.",
        )  # fmt: skip
    mark_shown(actor, [appt])
    shown = [p.client_id for p in appt.participants.all() if p.client_id and p.shown]
    if shown:
        audit_record_many(
            actor=actor, action="appointment.view", targets=[_Seen(appt, c) for c in shown],
            client_attr="client_id",
        )  # fmt: skip
    else:
        audit_record(actor=actor, action="appointment.view", target=appt)
    return appt


@dataclass
class AppointmentRecord:
    """The encounter an appointment is (decision 0054): its dosing session (the latest
    opened on it), or the course events its participants' rows point to."""

    session: object | None
    open_session: object | None
    event_course_ids: list[int]


def appointment_record(*, appointment: Appointment) -> AppointmentRecord:
    """One query whatever the kind (participants are prefetched)."""
    from kapflow.encounters.models import OPEN_STATES, DosingSession

    sessions = list(
        DosingSession.objects.filter(appointment=appointment)
        .only("pk", "state", "course_id", "appointment_id")
        .order_by("-opened_at", "-pk")[:5]
    )
    return AppointmentRecord(
        session=sessions[0] if sessions else None,
        open_session=next((x for x in sessions if x.state in OPEN_STATES), None),
        event_course_ids=[p.course_id for p in appointment.participants.all() if p.course_event_id],
    )


def appointment_history(*, appointment: Appointment) -> list[Appointment]:
    """The earlier versions of a rescheduled appointment, most recent first (at most 20)."""
    # One query, also when it never moved (so the page's query count stays the same).
    # Every row of a chain points at its first row (`root`). A chain is a line (only a
    # scheduled row can move, and the moved row is kept as `rescheduled`), so the earlier
    # versions are the chain's rows older than this one.
    root_id = appointment.root_id or appointment.rescheduled_from_id or appointment.pk
    return list(
        Appointment.objects.filter(Q(pk=root_id) | Q(root_id=root_id))
        .filter(pk__lt=appointment.pk)
        .order_by("-pk")[:20]
    )


# ---- panels other pages include -------------------------------------------------------------


def upcoming_for_course(*, actor, course, now: datetime | None = None, limit: int = 10) -> list:
    """The course's scheduled appointments from now on (a group session included through
    the client's participant row), for the course page. Two queries; the course page
    already audits the course read."""
    now = now or timezone.now()
    if not policy.can_schedule(actor):
        return []
    rows = (
        AppointmentParticipant.objects.filter(
            course=course,
            role=ParticipantRole.CLIENT,
            live=True,
            ends_at__gt=now,
            appointment__status__in=OPEN_STATUSES,
        )
        .select_related("appointment__room")
        .prefetch_related(Prefetch("appointment__participants", queryset=_participants_qs()))
        .order_by("starts_at")[:limit]
    )
    appointments = [p.appointment for p in rows]
    mark_shown(actor, appointments)
    return appointments


def _own_client(actor):
    from kapflow.patients.models import Client

    if not policy.is_client_actor(actor):
        return None
    return (
        Client.objects.for_org(actor.organisation)
        .filter(user_id=actor.user_id)
        .select_related("organisation")
        .first()
    )


@dataclass
class ClientAppointment:
    """What the client sees of one of their appointments."""

    id: int
    kind_label: str
    starts_at: datetime
    ends_at: datetime
    where: str
    telehealth: bool
    telehealth_url: str  # empty unless within the window (TELEHEALTH_LINK_BEFORE)
    clinicians: list[str]
    kind: str = ""


def upcoming_for_client(*, actor, now: datetime | None = None, limit: int = 20) -> list:
    """The signed-in client's own scheduled appointments from now on (portal). NotFound for
    anyone who is not a client. The video link shows from 24 h before until the end."""
    now = now or timezone.now()
    client = _own_client(actor)
    if client is None:
        raise NotFound()
    rows = (
        AppointmentParticipant.objects.filter(
            client=client,
            role=ParticipantRole.CLIENT,
            live=True,
            ends_at__gt=now,
            appointment__status__in=OPEN_STATUSES,
        )
        .select_related("appointment__room")
        .prefetch_related(
            Prefetch(
                "appointment__participants",
                queryset=AppointmentParticipant.objects.filter(membership__isnull=False)
                .select_related("membership__user")
                .order_by("role", "id"),
            )
        )
        .order_by("starts_at")[:limit]
    )
    out = []
    for p in rows:
        a = p.appointment
        link_open = a.telehealth and a.starts_at - TELEHEALTH_LINK_BEFORE <= now < a.ends_at
        out.append(
            ClientAppointment(
                id=a.pk,
                kind_label=a.get_kind_display(),
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                where="Telehealth" if a.telehealth else (a.room.name if a.room else ""),
                telehealth=a.telehealth,
                telehealth_url=a.telehealth_url if link_open else "",
                clinicians=[m.membership.user.full_name for m in a.participants.all()],
                kind=a.kind,
            )
        )
    return out


@dataclass
class CompanionAppointment:
    """All a companion sees: when their client's at-home session is. Nothing clinical."""

    starts_at: datetime
    ends_at: datetime
    # The appointment and whether it meets by video: for the link to the session room.
    id: int = 0
    telehealth: bool = False
    organisation_id: int | None = None
    telehealth_url: str = ""


def upcoming_for_companion(
    *, actor, companion_id: int | None = None, now: datetime | None = None, limit: int = 10
) -> list:
    """The at-home dosing sessions of the clients who named the actor as companion: date
    and time only; with `companion_id`, only that one companion row's (one client's), and
    nothing when the row is not the actor's. NotFound for anyone who is not a companion."""
    from kapflow.patients.models import Companion

    now = now or timezone.now()
    if not policy.is_companion_actor(actor):
        raise NotFound()
    mine = Companion.objects.for_org(actor.organisation).filter(user_id=actor.user_id)
    if companion_id is not None:
        mine = mine.filter(pk=companion_id)
    rows = (
        AppointmentParticipant.objects.filter(
            companion__in=mine,
            role=ParticipantRole.COMPANION,
            live=True,
            ends_at__gt=now,
            appointment__status__in=OPEN_STATUSES,
            appointment__kind=AppointmentKind.DOSING,
        )
        .order_by("starts_at")
        .values_list(
            "starts_at", "ends_at", "appointment_id", "appointment__telehealth", "organisation_id"
        )[:limit]
    )  # fmt: skip
    return [CompanionAppointment(s, e, i, t, o) for s, e, i, t, o in rows]


def today_count_for_member(*, actor, zone_name: str, now: datetime | None = None) -> int:
    """How many live appointments the actor has today (local day in `zone_name`): one query."""
    now = now or timezone.now()
    if not policy.can_schedule(actor):
        return 0
    tz = rules.ZoneInfo(zone_name)
    today = now.astimezone(tz).date()
    start = rules.to_aware(datetime.combine(today, datetime.min.time()), zone_name)
    end = rules.to_aware(
        datetime.combine(today + timedelta(days=1), datetime.min.time()), zone_name
    )
    return AppointmentParticipant.objects.filter(
        membership=actor, live=True, starts_at__gte=start, starts_at__lt=end
    ).count()


# ---- rooms and availability -----------------------------------------------------------------


def rooms_list(*, organisation_id: int, active_only: bool = False) -> list[Room]:
    qs = Room.objects.for_org(organisation_id).order_by("name")
    if active_only:
        qs = qs.filter(is_active=True)
    return list(qs)


@dataclass
class Availability:
    membership: Membership
    rules: list[AvailabilityRule]
    exceptions: list[AvailabilityException]


def availability_for(*, actor, membership_id: int | None = None, now=None) -> Availability:
    """A clinician's weekly hours and their exceptions from a week ago on."""
    now = now or timezone.now()
    membership = schedule_member(actor=actor, membership_id=membership_id)
    if not policy.can_manage_availability(actor, membership):
        if membership.pk == actor.pk:
            raise NotFound()
        raise audit_not_found(actor=actor, model=Membership, object_id=membership.pk)
    return Availability(
        membership,
        list(
            AvailabilityRule.objects.filter(membership=membership).order_by("weekday", "start_time")
        ),
        list(
            AvailabilityException.objects.filter(
                membership=membership, ends_at__gt=now - timedelta(days=7)
            ).order_by("starts_at")
        ),
    )


# ---- calendar feeds -------------------------------------------------------------------------


def active_feed(*, actor) -> CalendarFeed | None:
    return (
        CalendarFeed.objects.filter(membership=actor, revoked_at__isnull=True)
        .order_by("-created_at")
        .first()
    )


def feed_for_token(token: str) -> CalendarFeed | None:
    """The live feed a secret token opens (its membership and user active), or None."""
    from kapflow.accounts.models import hash_secret

    if not token or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.filter(token_hash=hash_secret(token), revoked_at__isnull=True)
        .select_related("membership__organisation", "user")
        .prefetch_related("membership__roles")
        .first()
    )
    if feed is None or not feed.membership.is_active or not feed.user.is_active:
        return None
    return feed


@dataclass(frozen=True)
class FeedRow:
    """What a feed event needs of an appointment (no names, no link)."""

    pk: int
    kind: str
    starts_at: datetime
    ends_at: datetime
    telehealth: bool
    room_name: str | None
    status: str
    version: int


def feed_appointments(*, feed: CalendarFeed, now: datetime | None = None) -> list[FeedRow]:
    """The feed owner's appointments from 30 days ago to a year ahead (cancelled ones kept,
    so calendars drop them; rescheduled rows left out: the new row carries on). One query
    of plain values: a year of a busy clinician is about 1,300 rows."""
    now = now or timezone.now()
    start, end = now - FEED_PAST, now + FEED_FUTURE
    membership = feed.membership
    person = Q(membership=membership)
    if membership.has_role(Role.CLIENT):
        person |= Q(
            client__user_id=feed.user_id, client__organisation_id=membership.organisation_id
        )
    rows = (
        AppointmentParticipant.objects.filter(
            person, starts_at__lt=end, ends_at__gt=start, starts_at__gt=start - LONGEST
        )
        .exclude(appointment__status=AppointmentStatus.RESCHEDULED)
        .order_by("starts_at", "appointment_id")
        .values_list(
            "appointment_id",
            "appointment__kind",
            "appointment__starts_at",
            "appointment__ends_at",
            "appointment__telehealth",
            "appointment__room__name",
            "appointment__status",
            "appointment__version",
        )
    )
    seen, out = set(), []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(FeedRow(*row))
    return out


def range_check(starts_at: datetime, ends_at: datetime) -> None:
    from django.core.exceptions import ValidationError

    low, high = datetime(2000, 1, 1, tzinfo=UTC), timezone.now() + timedelta(days=5 * 366)
    try:
        if not low <= starts_at <= high:
            raise ValidationError({"start": "Choose a date between 2000 and five years from now."})
        if not low <= ends_at <= high + RANGE_MAX:
            raise ValidationError({"end": "Choose a date between 2000 and five years from now."})
    except (OverflowError, TypeError) as exc:
        raise ValidationError({"start": "Give the time with its UTC offset."}) from exc
    if ends_at <= starts_at:
        raise ValidationError({"end": "The end must be after the start."})
    if ends_at - starts_at > RANGE_MAX:
        raise ValidationError({"end": "Ask for at most 62 days at a time."})


def integration_hours(organisation_id: int) -> int:
    """The practice's integration window after a dosing session (GateSettings), in hours."""
    from kapflow.courses.models import GateSettings

    found = (
        GateSettings.objects.filter(organisation_id=organisation_id)
        .values_list("integration_hours", flat=True)
        .first()
    )
    if found is None:
        from kapflow.clinical.course import GatePolicy

        return GatePolicy().integration_hours
    return found


def self_book_options(*, actor, now: datetime | None = None, limit: int = 8) -> dict:
    """For the portal: per kind the client may book themselves, the next open times of the
    clinician it is with (clinical.directory.open_slots over their hours and what they
    already have), after the practice's notice; integration only inside the window after
    the latest dosing session. NotFound for anyone but a client with an open course."""
    from kapflow.clinical import directory as slot_rules
    from kapflow.directory.selectors import hours_and_busy
    from kapflow.scheduling import services

    now = now or clock.now()
    cfg = services.settings_for(actor.organisation_id)
    client, course = services._own_course(actor)
    options: dict[str, list] = {}
    for kind in ("preparation", "integration", "followup"):
        if not policy.can_self_schedule(actor, kind, cfg.self_book_kinds):
            continue
        try:
            party = services._self_party(client, course, kind)
        except DomainError:
            continue
        membership = party.staff[0][1]
        data = hours_and_busy([membership.pk], start=now, end=now + timedelta(days=14))[
            membership.pk
        ]
        slots = slot_rules.open_slots(
            **data, now=now, minutes=rules.default_minutes(kind),
            notice=timedelta(hours=cfg.self_book_notice_hours), days=14, limit=200,
        )  # fmt: skip
        if kind == "integration":
            dosing_at = services._integration_dosing_at(party, now + timedelta(days=14))
            if dosing_at is None:
                continue
            hours = integration_hours(course.organisation_id)
            zone_name = services._zone(party)
            slots = [
                s
                for s in slots
                if s.starts_at >= dosing_at
                and rules.integration_late_reason(
                    dosing_at, s.starts_at, hours=hours, zone_name=zone_name
                )
                is None
            ]
        options[kind] = (membership, slots[:limit])
    return options


# ---- the calendar grid (decision 0054) ------------------------------------------------------

# Free time is offered in half hours: each is one click to the booking form.
SLOT_MINUTES = 30


@dataclass
class GridItem:
    """One appointment's piece on one day, placed on the grid's rows."""

    appt: Appointment
    piece: object
    row_start: int
    row_end: int
    lane: int = 0
    lanes: int = 1

    @property
    def lane_style(self) -> str:
        if self.lanes == 1:
            return ""
        width = 100 / self.lanes
        return f"margin-left:{self.lane * width:.3f}%;width:{width:.3f}%;"


@dataclass
class GridSlot:
    """A free half hour of the clinician's: a link to the booking form, prefilled."""

    starts_at: datetime
    ends_at: datetime
    row_start: int
    row_end: int
    query: str


@dataclass
class GridDay:
    day: date
    column: int
    items: list = field(default_factory=list)
    slots: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (row_start, row_end, label)


@dataclass
class Calendar:
    membership: Membership
    zone_name: str
    view: str  # "week" or "day"
    anchor: date
    today: date
    days: list[GridDay]
    first_hour: int
    last_hour: int
    hours: list  # (row, "08:00")
    row_count: int
    starts_at: datetime
    ends_at: datetime
    can_book: bool

    @property
    def previous(self) -> date:
        return self.anchor - timedelta(days=7 if self.view == "week" else 1)

    @property
    def next(self) -> date:
        return self.anchor + timedelta(days=7 if self.view == "week" else 1)

    @property
    def count(self) -> int:
        return len({i.appt.pk for d in self.days for i in d.items})

    @property
    def slot_count(self) -> int:
        return sum(len(d.slots) for d in self.days)


def calendar_days(anchor: date, view: str) -> list[date]:
    """The local days a view shows: Monday to Sunday of the anchor's week, or the day."""
    if view == "day":
        return [anchor]
    monday = anchor - timedelta(days=anchor.weekday())
    return [monday + timedelta(days=i) for i in range(7)]


def calendar_for_member(
    *, actor, membership_id: int | None = None, anchor: date, view: str, zone_name: str,
    now: datetime | None = None,
) -> Calendar:  # fmt: skip
    """A clinician's day or week as a grid in `zone_name` (the viewer's): their
    appointments placed by start and length (kapflow.clinical.calendar), and their free half
    hours from now on (clinical.directory.open_slots over directory.selectors.hours_and_busy:
    weekly hours and extra hours, minus time off, appointments and held inquiries; the same
    rule the portal and the front door offer). A fixed number of queries: the member (none
    for oneself), two for the appointments and one audit INSERT, four for the free time,
    two for the rooms."""
    from urllib.parse import urlencode

    from kapflow.clinical import calendar as grid
    from kapflow.clinical import directory as slot_rules
    from kapflow.directory.selectors import hours_and_busy

    now = now or clock.now()
    view = view if view in ("day", "week") else "week"
    membership = schedule_member(actor=actor, membership_id=membership_id)
    dates = calendar_days(anchor, view)
    start = grid.day_bounds(dates[0], zone_name)[0]
    end = grid.day_bounds(dates[-1], zone_name)[1]
    appointments = appointments_for_member(
        actor=actor, membership=membership, starts_at=start, ends_at=end
    )
    days = [GridDay(d, column=i + 2) for i, d in enumerate(dates)]
    by_day = {d.day: d for d in days}
    placed = []
    for appt in appointments:
        for piece in grid.pieces(appt.starts_at, appt.ends_at, dates, zone_name):
            placed.append((by_day[piece.day], appt, piece))

    # Free time: from the later of the range's start and now, to the range's end.
    can_book = bool(policy.bookable_kinds(actor))
    free_from = max(start, now)
    data = hours_and_busy([membership.pk], start=free_from, end=max(end, free_from))[membership.pk]
    free = []
    if end > free_from:
        free = slot_rules.open_slots(
            **data, now=free_from, minutes=SLOT_MINUTES, notice=timedelta(0),
            days=(end - free_from).days + 1, limit=len(dates) * 48 + 1,
        )  # fmt: skip
        free = [s for s in free if s.ends_at <= end]
    rooms = rooms_list(organisation_id=actor.organisation_id, active_only=True)
    room_busy = list(
        Appointment.objects.filter(
            room__in=[r.pk for r in rooms], status__in=LIVE_STATUSES,
            starts_at__lt=end, ends_at__gt=start,
        ).values_list("room_id", "starts_at", "ends_at")
    )  # fmt: skip
    role = "therapist" if membership.has_role(Role.THERAPIST) else "prescriber"
    slot_pieces = []
    zone = rules.ZoneInfo(zone_name)
    for slot in free:
        day = slot.starts_at.astimezone(zone).date()
        piece = grid.day_piece(slot.starts_at, slot.ends_at, day, zone_name)
        if piece is None or piece.day not in by_day:
            continue
        params = {"at": slot.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"),
                  role: membership.pk}  # fmt: skip
        room = next(
            (r for r in rooms
             if not any(b[0] == r.pk and rules.overlaps(slot.starts_at, slot.ends_at, b[1], b[2])
                        for b in room_busy)),
            None,
        )  # fmt: skip
        if room is not None:
            params["room"] = room.pk
        slot_pieces.append((by_day[piece.day], slot, piece, urlencode(params)))

    minutes = [(p.start_minute, p.end_minute) for _, _, p in placed]
    minutes += [(p.start_minute, p.end_minute) for _, _, p, _ in slot_pieces]
    skipped = {d.day: grid.skipped_spans(d.day, zone_name) for d in days}
    minutes += [s for spans in skipped.values() for s in spans]
    first_hour, last_hour = grid.hour_range(minutes)
    per_hour = 60 // grid.STEP

    def row(minute: int) -> int:  # grid line: row 1 is the day headings
        return 2 + (minute - first_hour * 60) // grid.STEP

    for day, appt, piece in placed:
        day.items.append(
            GridItem(appt, piece, row(piece.first_row * grid.STEP),
                     row(piece.last_row * grid.STEP))
        )  # fmt: skip
    for day in days:
        lanes, count = grid.lanes([(i.row_start, i.row_end) for i in day.items])
        for item, lane in zip(day.items, lanes, strict=True):
            item.lane, item.lanes = lane, count
        day.skipped = [(row(a), row(b), f"{a // 60:02d}:{a % 60:02d}–{b // 60:02d}:{b % 60:02d}")
                       for a, b in skipped[day.day]]  # fmt: skip
    for day, slot, piece, query in slot_pieces:
        day.slots.append(
            GridSlot(slot.starts_at, slot.ends_at, row(piece.first_row * grid.STEP),
                     row(piece.last_row * grid.STEP), query)
        )  # fmt: skip
    hours = [(row(h * 60), f"{h:02d}:00") for h in range(first_hour, last_hour)]
    return Calendar(
        membership=membership, zone_name=zone_name, view=view, anchor=anchor,
        today=now.astimezone(rules.ZoneInfo(zone_name)).date(), days=days,
        first_hour=first_hour, last_hour=last_hour, hours=hours,
        row_count=(last_hour - first_hour) * per_hour, starts_at=start, ends_at=end,
        can_book=can_book,
    )  # fmt: skip
