"""Questionnaires over JSON: the instrument catalogue, assignments, staff entry, the client's
own answers, corrections and the urgent tasks a positive safety screen raises.

Same selectors, services and rules as the pages: this module parses input, calls one service
or selector, and shapes the answer. Scoring, validation of answers (every problem named by its
item id) and the safety path into the course's dosing gate belong to
kapflow.assessments.services and kapflow.clinical.instruments, never to this module.

Who may call what: staff endpoints answer "not found" to anyone without clinical access
(billers, clients, companions, other organisations), the same answer the selectors give; the
client's own endpoint answers "not found" to anyone who is not that client.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status
from pydantic import AwareDatetime, Field, StrictInt, StringConstraints, WithJsonSchema

from kapflow import policy
from kapflow.assessments import selectors, services
from kapflow.assessments.models import Decision, Schedule
from kapflow.audit.services import audit_route_not_found
from kapflow.clinical import instruments
from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor

router = Router(tags=["assessments"])

InstrumentCode = Literal[tuple(instruments.REGISTRY)]  # type: ignore[valid-type]
ScheduleName = Literal[tuple(Schedule.values)]  # type: ignore[valid-type]
DecisionName = Literal[tuple(Decision.values)]  # type: ignore[valid-type]

MAX_ITEMS = 60
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=40)]

# Documented as {item_id: integer}; values are checked here (see _answers) so that a value of
# the wrong type is reported under its item id, like every other answer problem.
Answers = Annotated[
    dict[ItemId, Any],
    Field(max_length=MAX_ITEMS),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": 'Item id to the chosen option\'s value, e.g. {"phq9_1": 2}.',
        }
    ),
]


# ---- schemas ------------------------------------------------------------------------------


class OptionOut(Schema):
    value: int
    label: str


class ItemOut(Schema):
    id: str
    label: str = Field(description="A short neutral name, always safe to show.")
    text: str | None = Field(
        description="The item's wording; null where the licence does not let us ship it."
    )
    options: list[OptionOut]
    required: bool
    scored: bool
    loinc: str | None


class InstrumentBandOut(Schema):
    low: int
    high: int
    label: str
    severity: int = Field(description="0 is the least severe band.")


class InstrumentOut(Schema):
    code: str
    name: str
    short_name: str
    respondent: Literal["self", "clinician"]
    entry: Literal["items", "total"] = Field(
        description="`items`: answered item by item; `total`: only the total score is entered."
    )
    min_total: int
    max_total: int
    bands: list[InstrumentBandOut]
    loinc_panel: str | None
    loinc_total: str | None
    licence: str
    items: list[ItemOut]


class AssignmentOut(Schema):
    id: int
    client_id: int
    course_id: int | None
    instrument: str
    schedule: ScheduleName
    due_at: datetime | None
    assigned_by_id: int
    assigned_by_name: str
    assigned_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None


class SafetyFlagOut(Schema):
    code: str
    message: str
    level: Literal["moderate", "high"]


class ResponseOut(Schema):
    id: int
    instrument: str
    total: int | None = Field(description="Null while the response is a draft.")
    band: str
    severity: int | None
    safety_flags: list[SafetyFlagOut]
    submitted_at: datetime | None = Field(description="Null while the response is a draft.")
    source: Literal["portal", "link", "staff"]
    corrects_id: int | None = Field(description="The response this one corrects, if any.")
    assignment_id: int | None
    course_id: int | None


class ResponseDetailOut(ResponseOut):
    client_id: int
    answers: dict[str, int]
    detail: dict
    correction_reason: str


class UrgentTaskOut(Schema):
    id: int
    client_id: int
    course_id: int | None
    response_id: int | None = Field(
        description="The scored screen; empty for a screen typed on the course page."
    )
    codes: list[str]
    level: Literal["moderate", "high"]
    created_at: datetime
    resolved_at: datetime | None
    resolved_by_id: int | None
    decision: DecisionName | Literal[""]
    assessment_note: str
    risk_level: Literal["low", "moderate", "high", ""]
    protective_factors_reviewed: bool
    safety_plan_reviewed: bool
    means_restriction_discussed: bool
    downgrade_rationale: str
    reassesses_id: int | None = Field(
        description="For a reassessment after hold or higher care: the task it reassesses."
    )
    licence: str = Field(description="The assessor's licence (type, state, number).")


class ClientAssessmentsOut(Schema):
    client_id: int
    open_assignments: list[AssignmentOut]
    responses: list[ResponseOut] = Field(
        description="Current responses, newest first: a corrected one is replaced by its "
        "correction."
    )
    urgent_tasks: list[UrgentTaskOut] = Field(description="Open urgent tasks only.")


class AssignmentIn(Schema):
    client_id: int = Field(ge=1, le=MAX_ID)
    instrument: InstrumentCode
    schedule: ScheduleName = "once"
    due_at: AwareDatetime | None = None


class ResponseEnterIn(Schema):
    client_id: int = Field(ge=1, le=MAX_ID)
    instrument: InstrumentCode
    answers: Answers | None = Field(None, description="For instruments entered item by item.")
    total: StrictInt | None = Field(None, description="For instruments entered as a total only.")
    assignment_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="The open assignment this entry completes, if any."
    )


class AssessmentAnswersIn(Schema):
    answers: Answers
    submit: bool = Field(
        description="false keeps a draft (partial answers allowed); true scores and submits."
    )


class CorrectionIn(Schema):
    reason: str = Field(max_length=500, description="Why the answers are corrected.")
    answers: Answers | None = None
    total: StrictInt | None = None


class ResolveIn(Schema):
    decision: DecisionName = Field(
        description="proceed: safe to continue (clears the dosing gate for this screen); "
        "hold: hold dosing with a safety plan; higher_care: refer to a higher level of care."
    )
    note: str = Field(max_length=4000, description="The assessment's rationale.")
    risk_level: Literal["low", "moderate", "high"] = Field(
        description="The assessed risk level; high can never lead to proceed."
    )
    protective_factors_reviewed: bool = False
    safety_plan_reviewed: bool = Field(False, description="Reviewed with the client.")
    means_restriction_discussed: bool = False
    downgrade_rationale: str = Field(
        "",
        max_length=4000,
        description="Required when the assessed level is lower than the task's level.",
    )


# ---- parsing and shaping ------------------------------------------------------------------


def _clinical_actor(request):
    """Staff who may see clinical data. Anyone else is told "not found", as the selectors
    tell them; the services still decide who may write."""
    actor = staff_actor(request)
    if not policy.can_see_clinical(actor):
        raise audit_route_not_found(request)
    return actor


def _client_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise audit_route_not_found(request)
    return actor


def _answers(raw: dict | None) -> dict[str, int] | None:
    """Answers must be whole numbers. Refuse true/false, fractions and text here, naming each
    item, rather than let a conversion read 2.7 as 2 or true as 1. A null is "not answered"."""
    if raw is None:
        return None
    errors = {
        key: "Choose one of the item's answers (a whole number)."
        for key, value in raw.items()
        if value is not None and (isinstance(value, bool) or not isinstance(value, int))
    }
    if errors:
        raise ValidationError(errors)
    return {key: value for key, value in raw.items() if value is not None}


def _answers_or_total(*, answers, total, entry: str | None = None) -> None:
    """One way of scoring per request: items or a total, as the instrument is entered."""
    if answers is not None and total is not None:
        raise ValidationError({"total": "Send the answers or a total, not both."})
    if entry == instruments.Entry.TOTAL and answers:
        raise ValidationError({"answers": "This instrument is recorded as a total score only."})
    if entry == instruments.Entry.ITEMS and total is not None:
        raise ValidationError({"total": "This instrument is scored from its items."})


def _instrument_out(inst) -> dict:
    return {
        "code": inst.code,
        "name": inst.name,
        "short_name": inst.short_name,
        "respondent": inst.respondent,
        "entry": inst.entry.value,
        "min_total": inst.min_total,
        "max_total": inst.max_total,
        "bands": [
            {"low": b.low, "high": b.high, "label": b.label, "severity": b.severity}
            for b in inst.bands
        ],
        "loinc_panel": inst.loinc_panel,
        "loinc_total": inst.loinc_total,
        "licence": inst.licence,
        "items": [
            {
                "id": item.id,
                "label": item.label,
                "text": item.text,
                "options": [{"value": o.value, "label": o.label} for o in item.options],
                "required": item.required,
                "scored": item.scored,
                "loinc": item.loinc,
            }
            for item in inst.items
        ],
    }


def _assignment_out(a) -> dict:
    return {
        "id": a.pk,
        "client_id": a.client_id,
        "course_id": a.course_id,
        "instrument": a.instrument,
        "schedule": a.schedule,
        "due_at": a.due_at,
        "assigned_by_id": a.assigned_by_id,
        "assigned_by_name": str(a.assigned_by.user),
        "assigned_at": a.assigned_at,
        "completed_at": a.completed_at,
        "cancelled_at": a.cancelled_at,
    }


def _response_out(r) -> dict:
    return {
        "id": r.pk,
        "instrument": r.instrument,
        "total": r.total,
        "band": r.band,
        "severity": r.severity,
        "safety_flags": r.safety_flags,
        "submitted_at": r.submitted_at,
        "source": r.source,
        "corrects_id": r.corrects_id,
        "assignment_id": r.assignment_id,
        "course_id": r.course_id,
    }


def _response_detail_out(r) -> dict:
    return _response_out(r) | {
        "client_id": r.client_id,
        "answers": r.answers,
        "detail": r.detail,
        "correction_reason": r.correction_reason,
    }


def _task_out(t) -> dict:
    return {
        "id": t.pk,
        "client_id": t.client_id,
        "course_id": t.course_id,
        "response_id": t.response_id,
        "codes": t.codes,
        "level": t.level,
        "created_at": t.created_at,
        "resolved_at": t.resolved_at,
        "resolved_by_id": t.resolved_by_id,
        "decision": t.decision,
        "assessment_note": t.assessment_note,
        "risk_level": t.risk_level,
        "protective_factors_reviewed": t.protective_factors_reviewed,
        "safety_plan_reviewed": t.safety_plan_reviewed,
        "means_restriction_discussed": t.means_restriction_discussed,
        "downgrade_rationale": t.downgrade_rationale,
        "reassesses_id": t.reassesses_id,
        "licence": " ".join(x for x in (t.licence_type, t.licence_state, t.licence_number) if x),
    }


# ---- endpoints ----------------------------------------------------------------------------


@router.get("/instruments", response=list[InstrumentOut], summary="List the instruments")
def instrument_list(request):
    """Every instrument kapflow scores, with its items, answer options, bands, LOINC codes and
    licence note. An item's `text` is null where the licence does not let us ship its wording
    (C-SSRS, PCL-5): show its `label` and ask from the licensed form. Instruments with
    `entry` "total" (CADSS) take only a total score."""
    return [_instrument_out(inst) for inst in instruments.REGISTRY.values()]


@router.post(
    "/assignments", response={201: AssignmentOut, **ERRORS}, summary="Assign a questionnaire"
)
def assignment_create(request, payload: AssignmentIn):
    """A clinician on the client's care team assigns a self-report instrument; it appears in
    the client's portal. Clinician-rated instruments (C-SSRS) are entered by staff instead
    (422 on `instrument`)."""
    actor = _clinical_actor(request)
    assignment = services.assignment_create(
        actor=actor,
        client_id=payload.client_id,
        instrument=payload.instrument,
        schedule=payload.schedule,
        due_at=payload.due_at,
    )
    return Status(201, _assignment_out(assignment))


@router.get(
    "/clients/{int:client_id}",
    response={200: ClientAssessmentsOut, 404: ErrorsOut},
    summary="A client's questionnaires",
)
def client_assessments(request, client_id: int):
    """The client's open assignments, current scores (newest first, at most 200) and open
    urgent tasks. Clinicians on the care team and practice admins; anyone else gets 404."""
    actor = _clinical_actor(request)
    data = selectors.client_assessments(actor=actor, client_id=client_id)
    return {
        "client_id": data["client"].pk,
        "open_assignments": [_assignment_out(a) for a in data["open_assignments"]],
        "responses": [_response_out(r) for r in data["responses"]],
        "urgent_tasks": [_task_out(t) for t in data["urgent"]],
    }


@router.post(
    "/responses", response={201: ResponseDetailOut, **ERRORS}, summary="Enter a questionnaire"
)
def response_enter(request, payload: ResponseEnterIn):
    """Staff enter a completed questionnaire on the client's behalf (paper, phone, in
    session): `answers` for item-by-item instruments, `total` for total-only ones (CADSS).
    Every problem is a 422 naming its item id as `field`: each required item missing, each
    answer out of range, each unknown item. A positive safety screen (PHQ-9 item 9, C-SSRS)
    raises an urgent task and blocks the course's dosing gate until a risk assessment."""
    actor = _clinical_actor(request)
    answers = _answers(payload.answers)
    entry = instruments.get(payload.instrument).entry
    _answers_or_total(answers=answers, total=payload.total, entry=entry)
    response = services.response_enter(
        actor=actor,
        client_id=payload.client_id,
        instrument=payload.instrument,
        answers=answers,
        total=payload.total,
        assignment_id=payload.assignment_id,
    )
    return Status(201, _response_detail_out(response))


@router.post(
    "/assignments/{int:assignment_id}/answers",
    response={200: ResponseDetailOut, **ERRORS},
    summary="Answer my questionnaire",
)
def assignment_answer(request, assignment_id: int, payload: AssessmentAnswersIn):
    """The signed-in client answers one of their own assignments: `submit` false keeps a
    draft, true scores and submits it (422 naming every missing or out-of-range item; 409 if
    it was already done). Anyone else, staff included, gets 404."""
    actor = _client_actor(request)
    response = services.response_save(
        assignment_id=assignment_id,
        answers=_answers(payload.answers),
        submit=payload.submit,
        source="portal",
        actor=actor,
    )
    return _response_detail_out(response)


@router.post(
    "/responses/{int:response_id}/corrections",
    response={201: ResponseDetailOut, **ERRORS},
    summary="Correct a response",
)
def response_correct(request, response_id: int, payload: CorrectionIn):
    """Record corrected answers (or total) as a new response that points at the original,
    which is kept unchanged. Only the latest version can be corrected (409 otherwise); the
    reason is required."""
    actor = _clinical_actor(request)
    answers = _answers(payload.answers)
    _answers_or_total(answers=answers, total=payload.total)
    response = services.response_correct(
        actor=actor,
        response_id=response_id,
        reason=payload.reason,
        answers=answers,
        total=payload.total,
    )
    return Status(201, _response_detail_out(response))


@router.post(
    "/urgent-tasks/{int:task_id}/resolve",
    response={200: UrgentTaskOut, **ERRORS},
    summary="Record a risk assessment",
)
def urgent_task_resolve(request, task_id: int, payload: ResolveIn):
    """A licensed clinician on the care team signs the structured risk assessment that closes
    an urgent task (decision 0029). `proceed` (never at risk level high; protective factors,
    the safety plan and means restriction all reviewed) clears the course's dosing gate for
    this screen; `hold` and `higher_care` keep dosing blocked. A task raised at level high
    never proceeds on the clinical date it was raised, and a risk level lower than the task's
    needs `downgrade_rationale`. 422 names what is missing;
    403 without a current licence in the client's state; 409 if it was already resolved."""
    actor = _clinical_actor(request)
    task = services.urgent_task_resolve(actor=actor, task_id=task_id, **payload.dict())
    return _task_out(task)


@router.post(
    "/urgent-tasks/{int:task_id}/reassess",
    response={201: UrgentTaskOut, **ERRORS},
    summary="Record a new risk assessment after hold or higher care",
)
def urgent_task_reassess(request, task_id: int, payload: ResolveIn):
    """After a task was resolved `hold` or `higher_care`, only a new structured risk
    assessment lifts it (decision 0029): a new, resolved task naming the one it reassesses,
    under the same rules (a high-level task never proceeds on the clinical date it was
    raised). 409 while the task is open or once a reassessment proceeded."""
    actor = _clinical_actor(request)
    task = services.urgent_task_reassess(actor=actor, task_id=task_id, **payload.dict())
    return Status(201, _task_out(task))
