"""Scheduling over JSON, under /api/v1/schedule: list a range, book, read, reschedule,
cancel, mark, read and edit availability, and create or revoke the calendar feed.

Same selectors, services and rules as the pages. Times are ISO 8601 with an offset (a naive
time is refused, 422 naming the field) and answered in UTC. Clashes are 409
`scheduling.conflict` with every clash; warnings are 409 `scheduling.confirm` with every
reason (send again with "confirm": true); a stale `version` is 409 `scheduling.stale`.
Anything outside the actor's practice or care team is 404.
"""

from datetime import datetime, time
from typing import Annotated, Literal

from ninja import Query, Router, Schema, Status
from pydantic import AfterValidator, Field, StrictBool, WithJsonSchema

from kapflow.clinical import scheduling as rules
from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor
from kapflow.core.errors import NotFound
from kapflow.scheduling import selectors, services
from kapflow.scheduling.models import AppointmentKind, AppointmentStatus

router = Router(tags=["scheduling"])

KindName = Literal[tuple(AppointmentKind.values)]  # type: ignore[valid-type]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("Give the time on the clock of the rule's zone, without an offset.")
    return value


# A time of day on the clock of the rule's own zone (`time_zone`): "09:00" or "09:00:00",
# never with an offset (the column has none; SQLite refused one with a 500). JSON Schema's
# "time" format is RFC 3339's full-time, which requires an offset, so the document says
# partial-time (RFC 3339's name for a time without one) and gives its pattern.
WallTime = Annotated[
    time,
    AfterValidator(_wall_clock),
    WithJsonSchema(
        {
            "type": "string",
            "format": "partial-time",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$",
        }
    ),
]


class AppointmentParticipantOut(Schema):
    role: str
    membership_id: int | None
    client_id: int | None
    course_id: int | None
    name: str


class AppointmentOut(Schema):
    id: int
    kind: str
    status: str
    status_reason: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    room_id: int | None
    room: str
    telehealth: bool
    telehealth_url: str
    is_group: bool
    course_id: int | None
    series_id: int | None
    follows_id: int | None
    rescheduled_from_id: int | None
    version: int
    participants: list[AppointmentParticipantOut]


class WarningOut(Schema):
    code: str
    message: str
    overridable: bool


class BookingOut(Schema):
    appointments: list[AppointmentOut]
    warnings: list[WarningOut]


class RepeatIn(Schema):
    interval: int = Field(1, ge=1, le=2, description="1: every week; 2: every other week.")
    count: int = Field(ge=2, le=rules.MAX_OCCURRENCES, description="How many appointments.")


class BookIn(Schema):
    kind: KindName
    starts_at: datetime = Field(description="ISO 8601 with an offset.")
    minutes: int | None = Field(None, ge=rules.MIN_MINUTES, le=rules.MAX_MINUTES)
    client_ids: list[RowId] = Field(default_factory=list, max_length=20)
    course_ids: list[RowId] = Field(default_factory=list, max_length=20)
    therapist_id: int | None = Field(None, ge=1, le=MAX_ID)
    prescriber_id: int | None = Field(None, ge=1, le=MAX_ID)
    room_id: int | None = Field(None, ge=1, le=MAX_ID)
    telehealth: StrictBool = False
    telehealth_url: str = Field("", max_length=500)
    repeat: RepeatIn | None = None
    integration_starts_at: datetime | None = Field(
        None, description="Dosing only: book the integration session too (within 72 h)."
    )
    confirm: StrictBool = Field(False, description="Book despite the warnings.")


class RescheduleIn(Schema):
    version: int = Field(ge=1, le=MAX_ID)
    starts_at: datetime
    minutes: int | None = Field(None, ge=rules.MIN_MINUTES, le=rules.MAX_MINUTES)
    reason: str = Field("", max_length=500)
    confirm: StrictBool = False


class CancelIn(Schema):
    version: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(max_length=500)
    following: StrictBool = Field(
        False, description="Also cancel the later appointments of the same series."
    )


class MarkIn(Schema):
    version: int = Field(ge=1, le=MAX_ID)
    status: str = Field(description="completed or no_show")
    reason: str = Field(
        "", max_length=500, description="Required for no_show: what happened; for completed, "
        "a note for the course's timeline (preparation and integration)."
    )  # fmt: skip


class RuleOut(Schema):
    id: int
    weekday: int
    start_time: WallTime
    end_time: WallTime
    time_zone: str


class ExceptionOut(Schema):
    id: int
    starts_at: datetime
    ends_at: datetime
    available: bool
    reason: str


class AvailabilityOut(Schema):
    membership_id: int
    rules: list[RuleOut]
    exceptions: list[ExceptionOut]


class RuleIn(Schema):
    weekday: int = Field(ge=0, le=6)
    start_time: WallTime
    end_time: WallTime
    time_zone: str = Field("", max_length=64)


class ExceptionIn(Schema):
    starts_at: datetime
    ends_at: datetime
    available: StrictBool = False
    reason: str = Field("", max_length=200)


class MineOut(Schema):
    id: int
    kind_label: str
    starts_at: datetime
    ends_at: datetime
    where: str
    telehealth: bool
    telehealth_url: str = Field(description="Empty until 24 hours before the start.")
    clinicians: list[str]


class TimesOut(Schema):
    starts_at: datetime
    ends_at: datetime


class FeedIn(Schema):
    show_details: StrictBool = False


class FeedOut(Schema):
    url: str = Field(description="The secret feed URL, shown once.")
    show_details: bool


def _participant(p) -> dict:
    if not getattr(p, "shown", True):
        # A client the actor may not see (a group session seen through another client).
        return {"role": p.role, "membership_id": None, "client_id": None, "course_id": None,
                "name": selectors.ANOTHER_CLIENT if p.client_id else "Companion"}  # fmt: skip
    return {"role": p.role, "membership_id": p.membership_id, "client_id": p.client_id,
            "course_id": p.course_id, "name": _name(p)}  # fmt: skip


def _name(p) -> str:
    if p.client_id:
        return p.client.display_name
    if p.membership_id:
        return p.membership.user.full_name
    return ""


def _out(a) -> dict:
    return {
        "id": a.pk, "kind": a.kind, "status": a.status, "status_reason": a.status_reason,
        "starts_at": a.starts_at, "ends_at": a.ends_at, "time_zone": a.time_zone,
        "room_id": a.room_id, "room": a.room.name if a.room else "", "telehealth": a.telehealth,
        "telehealth_url": a.telehealth_url, "is_group": a.is_group, "course_id": a.course_id,
        "series_id": a.series_id, "follows_id": a.follows_id,
        "rescheduled_from_id": a.rescheduled_from_id, "version": a.version,
        "participants": [_participant(p) for p in a.participants.all()],
    }  # fmt: skip


def _naive(value, name):
    from django.core.exceptions import ValidationError

    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValidationError({name: "Give the time with its UTC offset."})


def _booking_out(actor, booking) -> dict:
    ids = [a.pk for a in booking.appointments]
    full = {a.pk: a for a in _reload(actor, ids)}
    return {
        "appointments": [_out(full[i]) for i in ids],
        "warnings": [
            {"code": r.code, "message": r.message, "overridable": r.overridable}
            for r in booking.warnings
        ],
    }


def _reload(actor, ids):
    from kapflow import policy

    rows = list(
        policy.appointments_queryset(actor)
        .filter(pk__in=ids)
        .select_related("room")
        .prefetch_related(selectors._participants_prefetch())
    )
    selectors.mark_shown(actor, rows)
    return rows


@router.get(
    "/appointments",
    response={200: list[AppointmentOut], **ERRORS},
    summary="List appointments in a range",
)
def appointment_list(
    request,
    start: datetime,
    end: datetime,
    membership_id: int | None = Query(None, ge=1, le=MAX_ID),
):
    """The actor's appointments (or, for a practice admin, a member's) overlapping
    [start, end), at most 62 days. Cancelled ones are listed; rescheduled rows are not."""
    actor = staff_actor(request)
    _naive(start, "start")
    _naive(end, "end")
    selectors.range_check(start, end)
    member = selectors.schedule_member(actor=actor, membership_id=membership_id)
    rows = selectors.appointments_for_member(
        actor=actor, membership=member, starts_at=start, ends_at=end
    )
    return [_out(a) for a in rows]


@router.post("/appointments", response={201: BookingOut, **ERRORS}, summary="Book")
def appointment_book(request, payload: BookIn):
    """Book one appointment, a weekly series (`repeat`), a group session (several clients or
    courses) or a dosing session with its integration session (`integration_starts_at`)."""
    actor = staff_actor(request)
    _naive(payload.starts_at, "starts_at")
    _naive(payload.integration_starts_at, "integration_starts_at")
    recurrence = (
        rules.Recurrence(interval=payload.repeat.interval, count=payload.repeat.count)
        if payload.repeat
        else None
    )
    booking = services.appointment_book(
        actor=actor, kind=payload.kind, starts_at=payload.starts_at, minutes=payload.minutes,
        client_ids=payload.client_ids, course_ids=payload.course_ids,
        therapist_id=payload.therapist_id, prescriber_id=payload.prescriber_id,
        room_id=payload.room_id, telehealth=payload.telehealth,
        telehealth_url=payload.telehealth_url, recurrence=recurrence,
        integration_starts_at=payload.integration_starts_at, confirm=payload.confirm,
    )  # fmt: skip
    return Status(201, _booking_out(actor, booking))


@router.get(
    "/appointments/{int:appointment_id}",
    response={200: AppointmentOut, 404: ErrorsOut},
    summary="Read an appointment",
)
def appointment_get(request, appointment_id: int):
    actor = staff_actor(request)
    return _out(selectors.appointment_get_for_actor(actor=actor, appointment_id=appointment_id))


@router.post(
    "/appointments/{int:appointment_id}/reschedule",
    response={200: BookingOut, **ERRORS},
    summary="Reschedule",
)
def appointment_reschedule(request, appointment_id: int, payload: RescheduleIn):
    """Move it: the answer is the new row (its `rescheduled_from_id` is the old one)."""
    actor = staff_actor(request)
    _naive(payload.starts_at, "starts_at")
    booking = services.appointment_reschedule(
        actor=actor, appointment_id=appointment_id, version=payload.version,
        starts_at=payload.starts_at, minutes=payload.minutes, reason=payload.reason,
        confirm=payload.confirm,
    )  # fmt: skip
    return _booking_out(actor, booking)


@router.post(
    "/appointments/{int:appointment_id}/cancel",
    response={200: AppointmentOut, **ERRORS},
    summary="Cancel",
)
def appointment_cancel(request, appointment_id: int, payload: CancelIn):
    actor = staff_actor(request)
    appt = services.appointment_cancel(
        actor=actor, appointment_id=appointment_id, version=payload.version,
        reason=payload.reason, following=payload.following,
    )  # fmt: skip
    return _out(_reload(actor, [appt.pk])[0])


@router.post(
    "/appointments/{int:appointment_id}/mark",
    response={200: AppointmentOut, **ERRORS},
    summary="Mark completed or did not attend",
)
def appointment_mark(request, appointment_id: int, payload: MarkIn):
    actor = staff_actor(request)
    if payload.status not in (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW):
        from django.core.exceptions import ValidationError

        raise ValidationError({"status": "Use completed or no_show."})
    appt = services.appointment_mark(
        actor=actor, appointment_id=appointment_id, version=payload.version,
        status=payload.status, reason=payload.reason,
    )  # fmt: skip
    return _out(_reload(actor, [appt.pk])[0])


def _availability_out(current) -> dict:
    return {
        "membership_id": current.membership.pk,
        "rules": [
            {"id": r.pk, "weekday": r.weekday, "start_time": r.start_time,
             "end_time": r.end_time, "time_zone": r.time_zone}
            for r in current.rules
        ],
        "exceptions": [
            {"id": e.pk, "starts_at": e.starts_at, "ends_at": e.ends_at,
             "available": e.available, "reason": e.reason}
            for e in current.exceptions
        ],
    }  # fmt: skip


@router.get(
    "/availability/{int:membership_id}",
    response={200: AvailabilityOut, **ERRORS},
    summary="A clinician's availability",
)
def availability_get(request, membership_id: int):
    actor = staff_actor(request)
    return _availability_out(selectors.availability_for(actor=actor, membership_id=membership_id))


@router.post(
    "/availability/{int:membership_id}/rules",
    response={201: RuleOut, **ERRORS},
    summary="Add weekly hours",
)
def availability_rule_add(request, membership_id: int, payload: RuleIn):
    actor = staff_actor(request)
    rule = services.availability_rule_add(
        actor=actor, membership_id=membership_id, weekday=payload.weekday,
        start_time=payload.start_time, end_time=payload.end_time, time_zone=payload.time_zone,
    )  # fmt: skip
    return Status(201, {"id": rule.pk, "weekday": rule.weekday, "start_time": rule.start_time,
                        "end_time": rule.end_time, "time_zone": rule.time_zone})  # fmt: skip


@router.post(
    "/availability/{int:membership_id}/exceptions",
    response={201: ExceptionOut, **ERRORS},
    summary="Add time off or extra hours",
)
def availability_exception_add(request, membership_id: int, payload: ExceptionIn):
    actor = staff_actor(request)
    _naive(payload.starts_at, "starts_at")
    _naive(payload.ends_at, "ends_at")
    e = services.availability_exception_add(
        actor=actor, membership_id=membership_id, starts_at=payload.starts_at,
        ends_at=payload.ends_at, available=payload.available, reason=payload.reason,
    )  # fmt: skip
    return Status(201, {"id": e.pk, "starts_at": e.starts_at, "ends_at": e.ends_at,
                        "available": e.available, "reason": e.reason})  # fmt: skip


@router.get("/mine", response={200: list[MineOut], 404: ErrorsOut}, summary="My appointments")
def mine(request):
    """The signed-in client's own upcoming appointments. Anyone else: 404."""
    return [vars(a) for a in selectors.upcoming_for_client(actor=getattr(request, "actor", None))]


@router.get(
    "/companion",
    response={200: list[TimesOut], 404: ErrorsOut},
    summary="At-home session times (companion)",
)
def companion(request):
    """When the at-home dosing sessions of the companion's client are: times only."""
    rows = selectors.upcoming_for_companion(actor=getattr(request, "actor", None))
    return [vars(r) for r in rows]


@router.post("/feed", response={201: FeedOut, **ERRORS}, summary="Create my calendar feed URL")
def feed_create(request, payload: FeedIn):
    """A new secret URL (shown once); an earlier one stops working."""
    from django.urls import reverse

    actor = getattr(request, "actor", None)
    feed, raw = services.calendar_feed_create(actor=actor, show_details=payload.show_details)
    url = request.build_absolute_uri(reverse("scheduling:feed", args=[raw]))
    return Status(201, {"url": url, "show_details": feed.show_details})


@router.delete("/feed", response={204: None, **ERRORS}, summary="Revoke my calendar feed URL")
def feed_revoke(request):
    actor = getattr(request, "actor", None)
    if actor is None:
        raise NotFound()
    services.calendar_feed_revoke(actor=actor)
    return Status(204, None)
