"""Alerts over JSON: the reaction checklist, raising a reaction report or "need help now"
(the client for themself, a companion for their client), and for staff the open alerts, one
alert, and its acknowledgement.

Same selectors, services and rules as the pages. Raising answers "not found" to anyone who
may not report for that client; the staff endpoints answer "not found" to anyone without
clinical access (billers, clients, companions, other organisations), and acknowledging is
refused (403) to those who may see an alert but are not on the client's care team.
"""

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status
from pydantic import Field, StrictInt

from kapflow import policy
from kapflow.alerts import selectors, services
from kapflow.alerts.models import NOTE_MAX, AlertKind, RaisedByRole, Severity
from kapflow.audit.services import audit_route_not_found
from kapflow.clinical.reactions import SYMPTOMS
from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor

router = Router(tags=["alerts"])

KindName = Literal[tuple(AlertKind.values)]  # type: ignore[valid-type]
SeverityName = Literal[tuple(Severity.values)]  # type: ignore[valid-type]
RoleName = Literal[tuple(RaisedByRole.values)]  # type: ignore[valid-type]
SymptomCode = Literal[tuple(s.code for s in SYMPTOMS)]  # type: ignore[valid-type]


class SymptomOut(Schema):
    code: str
    label: str
    severity: SeverityName


class AlertAnswersIn(Schema):
    symptoms: list[SymptomCode] = Field(default_factory=list, max_length=len(SYMPTOMS))
    bp_systolic: StrictInt | None = Field(None, description="mmHg, if measured.")
    bp_diastolic: StrictInt | None = Field(None, description="mmHg, if measured.")


class AlertIn(Schema):
    client_id: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="The client reported for: required for a companion; a client may omit it.",
    )
    kind: KindName = Field(description="reaction: a reaction report; help_now: need help now.")
    answers: AlertAnswersIn | None = Field(None, description="The checklist (reaction only).")
    note: str = Field("", max_length=NOTE_MAX, description="In the reporter's own words.")


class RaisedOut(Schema):
    id: int
    client_id: int
    course_id: int | None
    kind: KindName
    severity: SeverityName
    raised_at: datetime
    call_911: bool = Field(description="Tell the reporter to call 911 now.")
    call_988: bool = Field(description="Tell the reporter to call or text 988 now.")
    message: str = Field(description="What to do now, in plain words. Never a reply time.")


class AlertOut(Schema):
    id: int
    client_id: int
    course_id: int | None
    kind: KindName
    severity: SeverityName
    reasons: list[str]
    raised_at: datetime
    raised_by_role: RoleName
    answers: dict
    note: str
    acknowledged_at: datetime | None
    acknowledged_by_id: int | None
    acknowledgement_note: str
    can_acknowledge: bool = Field(description="Whether the caller may acknowledge it.")


class AcknowledgeIn(Schema):
    note: str = Field(max_length=NOTE_MAX, description="What was done (required).")


def _clinical_actor(request):
    actor = staff_actor(request)
    if not policy.can_see_clinical(actor):
        raise audit_route_not_found(request)
    return actor


def _raised_out(alert) -> dict:
    advice = selectors.reporter_advice(alert)
    return {
        "id": alert.pk,
        "client_id": alert.client_id,
        "course_id": alert.course_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "raised_at": alert.raised_at,
        "call_911": advice["call_911"],
        "call_988": advice["call_988"],
        "message": advice["message"],
    }


def _alert_out(alert) -> dict:
    return {
        "id": alert.pk,
        "client_id": alert.client_id,
        "course_id": alert.course_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "reasons": alert.reasons,
        "raised_at": alert.raised_at,
        "raised_by_role": alert.raised_by_role,
        "answers": alert.answers,
        "note": alert.note,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by_id": alert.acknowledged_by_id,
        "acknowledgement_note": alert.acknowledgement_note,
        "can_acknowledge": getattr(alert, "can_acknowledge", False),
    }


@router.get("/symptoms", response=list[SymptomOut], summary="The reaction checklist")
def symptom_list(request):
    """The reaction checklist in the order to show it, in plain words, with the severity
    each item sets (the report takes its most severe item)."""
    return [{"code": s.code, "label": s.label, "severity": s.severity.value} for s in SYMPTOMS]


@router.post("", response={201: RaisedOut, **ERRORS}, summary="Report a reaction or ask for help")
def alert_raise(request, payload: AlertIn):
    """The signed-in client (for themself) or a companion (for their client) reports a
    reaction (`answers`, `note`) or presses need help now (no answers). The care team is
    e-mailed at once. The answer says what to do now (`call_911`, `call_988`, `message`).
    Anyone else gets 404; a second "need help now" within two minutes returns the first."""
    actor = request.actor
    client_id = payload.client_id
    if client_id is None:
        if policy.is_companion_actor(actor) and not policy.is_client_actor(actor):
            raise ValidationError({"client_id": "Name the client you are reporting for."})
        client, _ = selectors.client_for_reporter(actor=actor)
        client_id = client.pk
    # Only what was sent: "need help now" with an empty checklist is still no answers.
    answers = payload.answers.model_dump(exclude_defaults=True) if payload.answers else {}
    alert = services.alert_raise(
        actor=actor, client_id=client_id, kind=payload.kind, answers=answers, note=payload.note,
    )  # fmt: skip
    return Status(201, _raised_out(alert))


@router.get("/open", response={200: list[AlertOut], 404: ErrorsOut}, summary="Open alerts")
def open_alerts(request):
    """Open alerts of the clients the caller may see, emergencies first, at most 50.
    Practice admins and clinicians on the care team (a partner prescriber included)."""
    actor = _clinical_actor(request)
    return [_alert_out(a) for a in selectors.open_alerts(actor=actor)]


@router.get(
    "/courses/{int:course_id}/open",
    response={200: list[AlertOut], 404: ErrorsOut},
    summary="Open alerts of a course",
)
def course_open_alerts(request, course_id: int):
    """Open alerts for the course's client (this course, or raised with no course open)."""
    actor = _clinical_actor(request)
    course = selectors.course_for_alerts(actor=actor, course_id=course_id)
    return [_alert_out(a) for a in selectors.open_alerts_for_course(actor=actor, course=course)]


@router.get("/{int:alert_id}", response={200: AlertOut, 404: ErrorsOut}, summary="One alert")
def alert_get(request, alert_id: int):
    """One alert with the answers and note. Each read is audited."""
    actor = _clinical_actor(request)
    return _alert_out(selectors.alert_get_for_actor(actor=actor, alert_id=alert_id))


@router.post(
    "/{int:alert_id}/acknowledge",
    response={200: AlertOut, **ERRORS},
    summary="Acknowledge an alert",
)
def alert_acknowledge(request, alert_id: int, payload: AcknowledgeIn):
    """A clinician on the client's care team records that they picked the alert up and what
    they did (`note`, required). 403 for practice admins; 409 if already acknowledged."""
    actor = _clinical_actor(request)
    services.alert_acknowledge(actor=actor, alert_id=alert_id, note=payload.note)
    return _alert_out(selectors.alert_get_for_actor(actor=actor, alert_id=alert_id))
