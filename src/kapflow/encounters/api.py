"""Dosing sessions over JSON (/api/v1/sessions): open, read (timeline, flags, due vitals,
discharge reasons), checklist, start, entries and corrections, discharge, abandon, and group
sessions. Same selectors and services as the screen; this module parses and shapes only.

A refused start or discharge is a 409 listing every reason with its `overridable` flag; a
stale `version` is a 409 with code `session.stale`; bad input is a 422 naming the field.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import AwareDatetime, Field

from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor
from kapflow.core.errors import NotFound
from kapflow.courses import api as course_api
from kapflow.courses.api import OverrideIn
from kapflow.encounters import selectors, services
from kapflow.encounters.models import (
    DoseUnit,
    EntryKind,
    EntrySource,
    EventType,
    Route,
)

router = Router(tags=["encounters"])

Id = Field(ge=1, le=MAX_ID)
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
EntryKindName = Literal[tuple(EntryKind.values)]  # type: ignore[valid-type]
SourceName = Literal[tuple(EntrySource.values)]  # type: ignore[valid-type]
RouteName = Literal[tuple(Route.values)]  # type: ignore[valid-type]
UnitName = Literal[tuple(DoseUnit.values)]  # type: ignore[valid-type]
EventName = Literal[tuple(EventType.values)]  # type: ignore[valid-type]


# ---- schemas ------------------------------------------------------------------------------


class SessionReasonOut(Schema):
    code: str
    message: str
    overridable: bool


class FlagOut(Schema):
    code: str
    message: str
    rule: str = Field(description="The threshold that fired, with the practice's number.")


class SessionEntryOut(Schema):
    id: int
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    source: str
    data: dict
    flags: list[FlagOut]
    flagged: bool
    corrects_id: int | None
    corrected_by_id: int | None
    struck: bool
    reason: str
    effective: bool = Field(description="False once corrected or struck through.")


class RecheckOut(Schema):
    minutes_after_dose: int
    due_at: datetime
    done_at: datetime | None
    overdue: bool


class ChecklistOut(Schema):
    respondent: str
    answered_at: datetime
    fasting: bool
    no_alcohol_24h: bool
    ride_or_companion: bool
    phone_charged: bool
    setting_ready: bool
    complete: bool


class SessionOut(Schema):
    id: int
    course_id: int
    client_id: int
    group_id: int | None
    appointment_id: int | None
    delivery: str
    state: str
    version: int = Field(description="Send it back with edits; a stale one is a 409.")
    opened_at: datetime
    started_at: datetime | None
    dose_at: datetime | None
    ended_at: datetime | None
    overridden: list[str]
    override_reason: str
    abandon_reason: str
    minutes: int | None
    first_hour_minutes: int | None
    additional_minutes: int | None
    additional_hour_units: int | None
    checklist: list[ChecklistOut]
    checklist_done: bool
    flagged: bool
    latest_flags: list[FlagOut]
    rechecks: list[RecheckOut]
    vitals_overdue: bool
    companion_check_due_at: datetime | None
    discharge_reasons: list[SessionReasonOut] = Field(
        description="What the timeline still lacks for discharge (vitals, observation time, "
        "the dose); the clinician also attests alert, walking and the escort."
    )
    timeline: list[SessionEntryOut]


class OpenIn(Schema):
    course_id: int = Id
    appointment_id: int | None = Field(None, ge=1, le=MAX_ID)


class ChecklistIn(Schema):
    fasting: bool = False
    no_alcohol_24h: bool = False
    ride_or_companion: bool = False
    phone_charged: bool = False
    setting_ready: bool = False


class StartIn(Schema):
    version: int = Field(ge=1, le=MAX_ID)
    bp_systolic: int | None = Field(None, ge=40, le=300)
    bp_diastolic: int | None = Field(None, ge=20, le=200)
    heart_rate: int | None = Field(None, ge=20, le=250)
    spo2: int | None = Field(None, ge=50, le=100)
    alcohol_free_24h: bool = False
    companion_present: bool = False
    driver_confirmed: bool = False
    overrides: list[OverrideIn] = Field(
        default_factory=list,
        max_length=30,
        description="Reasons the person starting owns and overrides, each with a structured "
        "justification (decision 0029). A free-text reason alone overrides nothing.",
    )


class EntryFields(Schema):
    """What an entry carries, by kind (dose, vitals, event, text); a correction repeats it."""

    occurred_at: AwareDatetime | None = None
    route: RouteName | None = None
    amount: Decimal | None = Field(None, gt=0, le=2000, max_digits=7, decimal_places=2)
    unit: UnitName = "mg"
    bp_systolic: int | None = Field(None, ge=40, le=300)
    bp_diastolic: int | None = Field(None, ge=20, le=200)
    heart_rate: int | None = Field(None, ge=20, le=250)
    spo2: int | None = Field(None, ge=50, le=100)
    event_type: EventName | None = None
    intervention: str = Field("", max_length=2000)
    text: str = Field("", max_length=2000)


class SessionEntryIn(EntryFields):
    kind: EntryKindName
    source: SourceName = "clinician"
    version: int | None = Field(None, ge=1, le=MAX_ID)


class CorrectIn(EntryFields):
    version: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(max_length=2000)
    strike: bool = False


class DischargeIn(Schema):
    version: int = Field(ge=1, le=MAX_ID)
    alert_oriented: bool = False
    walks_steadily: bool = False
    escort_present: bool = Field(False, description="Companion at home; driver in person.")
    note: str = Field("", max_length=2000)


class AbandonIn(Schema):
    version: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(max_length=2000)


class GroupIn(Schema):
    kind: Literal["dosing", "integration"] = "dosing"
    course_ids: list[RowId] = Field(max_length=20)
    co_clinician_id: int | None = Field(None, ge=1, le=MAX_ID)
    room_id: int | None = Field(None, ge=1, le=MAX_ID)
    appointment_id: int | None = Field(None, ge=1, le=MAX_ID)


class GroupAddIn(Schema):
    course_id: int = Id


class GroupRowOut(Schema):
    session_id: int
    client_id: int
    client_name: str
    state: str
    checklist_done: bool
    started_at: datetime | None
    last_vitals_at: datetime | None
    vitals_due_at: datetime | None
    vitals_overdue: bool
    flagged: bool
    ready_for_discharge: bool


class AttendeeOut(Schema):
    course_id: int
    client_id: int
    client_name: str
    attended: bool | None = Field(description="Empty until the group closes.")
    integration_event_id: int | None


class GroupCloseIn(Schema):
    attended_course_ids: list[RowId] = Field(max_length=20)
    note: str = Field("", max_length=2000)


class GroupSessionOut(Schema):
    id: int
    kind: str
    state: str
    size_limit: int
    room_id: int | None
    appointment_id: int | None
    clinician_ids: list[int]
    rows: list[GroupRowOut] = Field(description="Dosing groups: one row per client session.")
    attendees: list[AttendeeOut] = Field(description="Integration groups: one per client.")


# ---- shaping ------------------------------------------------------------------------------


def _reasons(reasons) -> list[dict]:
    return [{"code": r.code, "message": r.message, "overridable": r.overridable} for r in reasons]


def _session_out(state: selectors.SessionState) -> dict:
    s = state.session
    return {
        "id": s.pk,
        "course_id": s.course_id,
        "client_id": s.client_id,
        "group_id": s.group_id,
        "appointment_id": s.appointment_id,
        "delivery": s.delivery,
        "state": s.state,
        "version": s.version,
        "opened_at": s.opened_at,
        "started_at": s.started_at,
        "dose_at": state.dose_at,
        "ended_at": s.ended_at,
        "overridden": s.overridden,
        "override_reason": s.override_reason,
        "abandon_reason": s.abandon_reason,
        "minutes": s.minutes,
        "first_hour_minutes": s.first_hour_minutes,
        "additional_minutes": s.additional_minutes,
        "additional_hour_units": s.additional_hour_units,
        "checklist": [
            {
                "respondent": r.respondent,
                "answered_at": r.answered_at,
                "fasting": r.fasting,
                "no_alcohol_24h": r.no_alcohol_24h,
                "ride_or_companion": r.ride_or_companion,
                "phone_charged": r.phone_charged,
                "setting_ready": r.setting_ready,
                "complete": r.complete,
            }
            for r in dict.fromkeys(state.checklist.values())
        ],
        "checklist_done": state.checklist_done,
        "flagged": state.flagged,
        "latest_flags": state.last_vitals.flags if state.last_vitals else [],
        "rechecks": [vars(r) for r in state.schedule.rechecks],
        "vitals_overdue": state.schedule.overdue,
        "companion_check_due_at": state.schedule.companion_check_due_at,
        "discharge_reasons": _reasons(state.computed_reasons) if s.state == "in_progress" else [],
        "timeline": [
            {
                "id": row.entry.pk,
                "kind": row.entry.kind,
                "occurred_at": row.entry.occurred_at,
                "recorded_at": row.entry.recorded_at,
                "recorded_by": str(row.entry.recorded_by),
                "source": row.entry.source,
                "data": row.entry.data,
                "flags": row.entry.flags,
                "flagged": row.entry.flagged,
                "corrects_id": row.entry.corrects_id,
                "corrected_by_id": row.superseded_by.pk if row.superseded_by else None,
                "struck": row.entry.struck,
                "reason": row.entry.reason,
                "effective": row.effective,
            }
            for row in state.rows
        ],
    }


def _reload(actor, session_id: int) -> dict:
    # The write was audited by its service; this read only shapes the answer.
    session = selectors.session_get_for_actor(actor=actor, session_id=session_id, audit_action="")
    return _session_out(selectors.session_state(session=session, now=timezone.now()))


def _fields(payload) -> dict:
    return {k: v for k, v in payload.dict().items() if v is not None}


# ---- endpoints ----------------------------------------------------------------------------


@router.post("", response={201: SessionOut, **ERRORS}, summary="Open a dosing session")
def session_open(request, payload: OpenIn):
    """Open a session on a course (the checklist stage), optionally for its booked dosing
    appointment. One open session per course (409 `session.already_open`)."""
    actor = staff_actor(request)
    session = services.session_open(
        actor=actor, course_id=payload.course_id, appointment_id=payload.appointment_id
    )
    return Status(201, _reload(actor, session.pk))


@router.get(
    "/{int:session_id}", response={200: SessionOut, 404: ErrorsOut}, summary="Get a session"
)
def session_get(request, session_id: int):
    """The session with its timeline (oldest first), the latest flags with the rule that
    fired, the recheck schedule and what still blocks discharge."""
    actor = staff_actor(request)
    session = selectors.session_get_for_actor(actor=actor, session_id=session_id)
    return _session_out(selectors.session_state(session=session, now=timezone.now()))


@router.post(
    "/{int:session_id}/checklist",
    response={201: ChecklistOut, **ERRORS},
    summary="Answer the pre-session checklist",
)
def checklist_submit(request, session_id: int, payload: ChecklistIn):
    """The client (their own session), the companion (their client's at-home session) or a
    clinician on the client's word. Until the session starts."""
    actor = getattr(request, "actor", None)
    if actor is None:
        raise NotFound()
    r = services.checklist_submit(actor=actor, session_id=session_id, answers=payload.dict())
    return Status(
        201,
        {
            "respondent": r.respondent, "answered_at": r.answered_at, "fasting": r.fasting,
            "no_alcohol_24h": r.no_alcohol_24h, "ride_or_companion": r.ride_or_companion,
            "phone_charged": r.phone_charged, "setting_ready": r.setting_ready,
            "complete": r.complete,
        },
    )  # fmt: skip


@router.post(
    "/{int:session_id}/start", response={200: SessionOut, **ERRORS}, summary="Start the session"
)
def session_start(request, session_id: int, payload: StartIn):
    """Check the whole dosing gate with the pre-dose vitals and the day's attestations. 409
    lists every reason with who may override it (`override_by`) and why the caller may not
    (`why_not`); a reason passes only under a signed decision: one signed ahead (POST
    /api/v1/courses/{id}/overrides) or one the caller signs here with `overrides`."""
    actor = staff_actor(request)
    services.session_start(
        actor=actor, session_id=session_id, **payload.dict(exclude={"overrides"}),
        overrides=course_api.justifications(payload.overrides),
    )  # fmt: skip
    return _reload(actor, session_id)


@router.post(
    "/{int:session_id}/entries", response={201: SessionEntryOut, **ERRORS}, summary="Add an entry"
)
def entry_add(request, session_id: int, payload: SessionEntryIn):
    """A dose (the first uses one dose from the fill; later ones are boosters), vitals
    (flagged at once with the rule that fired), an observation, an event with its
    intervention, or a note."""
    actor = staff_actor(request)
    entry = services.entry_add(actor=actor, session_id=session_id, **_fields(payload))
    return Status(201, _entry_out(entry))


@router.post(
    "/{int:session_id}/entries/{int:entry_id}/correct",
    response={201: SessionEntryOut, **ERRORS},
    summary="Correct or strike an entry",
)
def entry_correct(request, session_id: int, entry_id: int, payload: CorrectIn):
    """A new entry naming the old one, with the corrected values or `strike`; `reason` is
    required. The old entry is never changed."""
    actor = staff_actor(request)
    entry = services.entry_correct(
        actor=actor, session_id=session_id, entry_id=entry_id, **_fields(payload)
    )
    return Status(201, _entry_out(entry))


@router.post(
    "/{int:session_id}/discharge",
    response={200: SessionOut, **ERRORS},
    summary="Discharge and close",
)
def session_discharge(request, session_id: int, payload: DischargeIn):
    """Close the session once every discharge criterion holds; 409 lists each unmet one.
    Records the minutes (first hour and the rest) and raises the integration due items."""
    actor = staff_actor(request)
    services.session_discharge(actor=actor, session_id=session_id, **payload.dict())
    return _reload(actor, session_id)


@router.post(
    "/{int:session_id}/abandon",
    response={200: SessionOut, **ERRORS},
    summary="End without discharge",
)
def session_abandon(request, session_id: int, payload: AbandonIn):
    actor = staff_actor(request)
    services.session_abandon(actor=actor, session_id=session_id, **payload.dict())
    return _reload(actor, session_id)


def _entry_out(entry) -> dict:
    return {
        "id": entry.pk, "kind": entry.kind, "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at, "recorded_by": str(entry.recorded_by),
        "source": entry.source, "data": entry.data, "flags": entry.flags,
        "flagged": entry.flagged, "corrects_id": entry.corrects_id, "corrected_by_id": None,
        "struck": entry.struck, "reason": entry.reason, "effective": not entry.struck,
    }  # fmt: skip


def _group_out(actor, group) -> dict:
    integration = group.kind == "integration"
    rows = [] if integration else selectors.group_rows(actor=actor, group=group, now=timezone.now())
    attendees = selectors.group_attendees(actor=actor, group=group) if integration else []
    return {
        "id": group.pk,
        "kind": group.kind,
        "attendees": [
            {
                "course_id": a.course_id,
                "client_id": a.client_id,
                "client_name": a.client.display_name,
                "attended": a.attended,
                "integration_event_id": a.integration_event_id,
            }
            for a in attendees
        ],
        "state": group.state,
        "size_limit": group.size_limit,
        "room_id": group.room_id,
        "appointment_id": group.appointment_id,
        "clinician_ids": sorted(m.pk for m in selectors.group_clinicians(group)),
        "rows": [
            {
                "session_id": s.session.pk,
                "client_id": s.session.client_id,
                "client_name": s.session.client.display_name,
                "state": s.session.state,
                "checklist_done": s.checklist_done,
                "started_at": s.session.started_at,
                "last_vitals_at": s.last_vitals.occurred_at if s.last_vitals else None,
                "vitals_due_at": s.schedule.next_due.due_at if s.schedule.next_due else None,
                "vitals_overdue": s.schedule.overdue,
                "flagged": s.flagged,
                "ready_for_discharge": s.ready_for_discharge,
            }
            for s in rows
        ],
    }


@router.post("/groups", response={201: GroupSessionOut, **ERRORS}, summary="Create a group session")
def group_create(request, payload: GroupIn):
    """A group dosing session led by the actor (and optionally a second clinician), with a
    session opened for each course; at most the practice's group size."""
    actor = staff_actor(request)
    group = services.group_create(actor=actor, **payload.dict())
    group = selectors.group_get_for_actor(actor=actor, group_id=group.pk, audit_action="")
    return Status(201, _group_out(actor, group))


@router.get(
    "/groups/{int:group_id}", response={200: GroupSessionOut, 404: ErrorsOut}, summary="Get a group"
)
def group_get(request, group_id: int):
    """Everyone's state at a glance: checklist, started, last vitals, vitals due, flagged,
    ready for discharge."""
    actor = staff_actor(request)
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id)
    return _group_out(actor, group)


@router.post(
    "/groups/{int:group_id}/clients",
    response={201: GroupSessionOut, **ERRORS},
    summary="Add a client to a group",
)
def group_add(request, group_id: int, payload: GroupAddIn):
    """Add a client by their course: a dosing group opens their session; an integration
    group lists them. 409 `group.full` past the practice's group size."""
    actor = staff_actor(request)
    services.group_add_client(actor=actor, group_id=group_id, course_id=payload.course_id)
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id, audit_action="")
    return Status(201, _group_out(actor, group))


@router.post(
    "/groups/{int:group_id}/close",
    response={200: GroupSessionOut, **ERRORS},
    summary="Close a group integration session",
)
def group_close(request, group_id: int, payload: GroupCloseIn):
    """Record an integration session on the course of each client who attended (clearing
    their 72-hour integration item); the others are marked absent. 409 lists every client's
    reason when a course refuses, and nothing is recorded."""
    actor = staff_actor(request)
    services.group_integration_close(actor=actor, group_id=group_id, **payload.dict())
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id, audit_action="")
    return _group_out(actor, group)
