"""Courses of care over JSON: the caseload, the course, its gates and its steps.

Same selectors, services and rules as the pages: this module only parses input, calls one
service or selector, and shapes the answer. A refused step propagates as GateBlocked, which
kapflow.api turns into a 409 listing every reason with its `overridable` flag (and, for the
dosing gate, who may override it and why the caller may not: decision 0029). Inputs are
typed (Literal choices, bounded numbers, timezone-aware datetimes) so bad values are a 422
naming the field before any service runs.
"""

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from kapflow.clinical import course as rules
from kapflow.clinical import overrides as ovr
from kapflow.core.api import ERRORS, ErrorsOut, staff_actor
from kapflow.courses import selectors, services

router = Router(tags=["courses"])

StageName = Literal[tuple(s.value for s in rules.Stage)]  # type: ignore[valid-type]
PathwayName = Literal[tuple(p.value for p in rules.Pathway)]  # type: ignore[valid-type]
DeliveryName = Literal[tuple(d.value for d in rules.Delivery)]  # type: ignore[valid-type]
ActionName = Literal[tuple(a.value for a in rules.Action)]  # type: ignore[valid-type]
SideName = Literal[tuple(s.value for s in rules.Side)]  # type: ignore[valid-type]
RecordKind = Literal[tuple(k.value for k in services.RECORDABLE)]  # type: ignore[valid-type]
SortKey = Literal[tuple(selectors.SORTS)]  # type: ignore[valid-type]
StatusName = Literal["open", "closed", "all", "overdue"]
CategoryName = Literal[tuple(c.value for c in ovr.Category)]  # type: ignore[valid-type]


# ---- schemas ------------------------------------------------------------------------------


class CourseReasonOut(Schema):
    code: str
    message: str
    overridable: bool


class DeadlineOut(Schema):
    code: str
    label: str
    due_at: datetime | None = Field(description="None: due before the next dosing.")
    overdue: bool


class CourseSummaryOut(Schema):
    id: int
    client_id: int
    client_name: str
    stage: StageName
    stage_label: str
    pathway: PathwayName
    delivery: DeliveryName
    therapist_id: int
    therapist_name: str
    prescriber_id: int | None
    prescriber_name: str | None
    opened_at: datetime
    stage_changed_at: datetime
    next_step: str
    blockers: list[CourseReasonOut]
    deadlines: list[DeadlineOut]


class CoursePage(Schema):
    count: int = Field(
        description="Matching courses, counted up to 1,000: when count_exact is false there "
        "are more than this."
    )
    count_exact: bool = Field(True, description="Whether count is the exact number.")
    page: int
    pages: int = Field(description="Pages of `count` courses; more follow when has_next.")
    has_next: bool = Field(False, description="Whether a next page has courses.")
    results: list[CourseSummaryOut]


class ActionOut(Schema):
    action: ActionName
    label: str
    side: SideName = Field(description="Whose step it is: the therapist's or the prescriber's.")
    reason_required: bool


class EventOut(Schema):
    id: int
    kind: str
    kind_label: str
    occurred_at: datetime
    actor_name: str
    from_stage: str
    to_stage: str
    action: str
    reason: str
    positive: bool | None
    overridden: list[str]
    data: dict


class ConsentOut(Schema):
    status: Literal["signed", "outdated", "withdrawn", "missing"] = Field(
        description="The client's KAP consent: the current version signed, an earlier version "
        "only, withdrawn, or never signed."
    )
    signed_version: int | None = Field(description="The version of the latest signature.")
    current_version: int | None = Field(description="The practice's current version.")
    signed_at: datetime | None
    withdrawn_at: datetime | None
    telehealth_signed: bool = Field(
        description="The current telehealth consent is signed (needed for at-home dosing)."
    )


class CourseOut(CourseSummaryOut):
    eligibility: str
    clearance_on: date | None
    clearance_valid_days: int | None
    prescription_active: bool
    doses_dispensed: int
    doses_used: int
    consent: ConsentOut
    preparation_planned: int
    closed_at: datetime | None
    allowed_actions: list[ActionOut]
    timeline: list[EventOut]


class GatesOut(Schema):
    dosing: list[CourseReasonOut] = Field(
        description="What blocks a dosing session now, before the day's vitals and attestations."
    )
    transitions: dict[str, list[CourseReasonOut]] = Field(
        description="For each step possible from the current stage, what blocks it now."
    )
    deadlines: list[DeadlineOut]


class CourseListParams(Schema):
    stage: StageName | None = None
    pathway: PathwayName | None = None
    delivery: DeliveryName | None = None
    therapist: int | None = Field(None, ge=1, description="The therapist's membership id.")
    status: StatusName = "open"
    sort: SortKey = "stage"
    page: int = Field(1, ge=1, le=1_000_000)


class CourseOpenIn(Schema):
    client_id: int = Field(ge=1)
    pathway: PathwayName
    delivery: DeliveryName
    therapist_id: int | None = Field(
        None, ge=1, description="Defaults to the acting therapist; admins must choose one."
    )


class TransitionIn(Schema):
    action: ActionName
    reason: str = Field("", max_length=2000)
    prescriber_id: int | None = Field(None, ge=1, description="refer: the prescriber referred to.")
    clearance_on: date | None = Field(None, description="decide_eligible: the clearance date.")
    clearance_valid_days: int | None = Field(
        None, ge=1, le=730, description="decide_eligible: how many days the clearance holds."
    )
    preparation_planned: int | None = Field(None, ge=1, le=3, description="start_preparation.")


class RecordIn(Schema):
    kind: RecordKind
    occurred_at: AwareDatetime | None = Field(None, description="Defaults to now; not future.")
    note: str = Field("", max_length=5000)
    positive: bool | None = Field(None, description="risk_screen: was it positive?")


class OverrideIn(Schema):
    code: str = Field(max_length=60, description="The gate reason's code.")
    category: CategoryName | Literal[""] = Field(
        "", description="Why the override is justified; each reason allows its own categories."
    )
    rationale: str = Field(
        "", max_length=2000, description=f"What was checked (at least {ovr.RATIONALE_MIN} chars)."
    )


class DosingIn(Schema):
    amount_mg: Decimal = Field(
        gt=0, le=1000, max_digits=7, decimal_places=2,
        description="The amount given (mg), boosters included: refused (409, "
        "`dose.above_prescription`) above the prescription's per-session amount unless the "
        "course's prescriber authorised more for this session.",
    )  # fmt: skip
    bp_systolic: int | None = Field(None, ge=40, le=300, description="Pre-dose, mmHg.")
    bp_diastolic: int | None = Field(None, ge=20, le=200, description="Pre-dose, mmHg.")
    alcohol_free_24h: bool
    companion_present: bool
    driver_confirmed: bool
    overrides: list[OverrideIn] = Field(
        default_factory=list,
        max_length=30,
        description="Reasons the person starting owns and overrides, each with a structured "
        "justification (decision 0029). A free-text reason alone overrides nothing.",
    )


class StandingOverrideIn(Schema):
    bp_systolic: int | None = Field(None, ge=40, le=300, description="The reading seen, mmHg.")
    bp_diastolic: int | None = Field(None, ge=20, le=200, description="The reading seen, mmHg.")
    overrides: list[OverrideIn] = Field(min_length=1, max_length=30)


class OverrideOut(Schema):
    id: int
    course_id: int
    signed_at: datetime
    signed_at_local: str = Field(description="In the practice's zone, e.g. 2026-11-25 07:02.")
    zone: str = Field(description="The zone signed_at_local is read in (IANA name).")
    signer_membership_id: int
    signer_name: str
    authority: Literal["treating_clinician", "prescriber"]
    licence: str = Field(description="Type, state and number of the signer's licence.")
    standing: bool = Field(description="Signed ahead of the start (covers a start soon after).")
    codes: list[str]
    justifications: list[dict] = Field(description="code, category, rationale per reason.")
    reasons_seen: list[dict] = Field(description="Every reason the gate gave: code, message.")
    day_seen: dict | None = Field(description="The day's readings and attestations seen.")


class OverridePage(Schema):
    count: int
    page: int
    pages: int
    results: list[OverrideOut]


def justifications(items) -> dict:
    """code -> Justification from the `overrides` list (the session screen's API uses it too)."""
    return {o.code: ovr.Justification(category=o.category, rationale=o.rationale) for o in items}


def _override_out(row) -> dict:
    d = row.decision
    return {
        "id": d.pk, "course_id": d.course_id, "signed_at": d.signed_at,
        "signed_at_local": row.signed_at_local.strftime("%Y-%m-%d %H:%M"), "zone": row.zone,
        "signer_membership_id": d.signed_by_id, "signer_name": row.signer,
        "authority": d.authority, "licence": row.licence, "standing": d.standing,
        "codes": d.codes, "justifications": row.justifications,
        "reasons_seen": [{"code": r["code"], "message": r["message"]} for r in row.reasons],
        "day_seen": (d.facts_seen or {}).get("day"),
    }  # fmt: skip


# ---- shaping ------------------------------------------------------------------------------


def _reasons(reasons) -> list[dict]:
    return [{"code": r.code, "message": r.message, "overridable": r.overridable} for r in reasons]


def _deadlines(deadlines) -> list[dict]:
    return [
        {"code": d.code, "label": d.label, "due_at": d.due_at, "overdue": d.overdue}
        for d in deadlines
    ]


def _client_name(client) -> str:
    return f"{client.preferred_name or client.legal_first_name} {client.legal_last_name}"


def _summary(row: selectors.CourseRow) -> dict:
    course = row.course
    return {
        "id": course.pk,
        "client_id": course.client_id,
        "client_name": _client_name(course.client),
        "stage": course.stage,
        "stage_label": rules.STAGE_LABELS[row.facts.stage],
        "pathway": course.pathway,
        "delivery": course.delivery,
        "therapist_id": course.therapist_id,
        "therapist_name": str(course.therapist.user),
        "prescriber_id": course.prescriber_id,
        "prescriber_name": str(course.prescriber.user) if course.prescriber_id else None,
        "opened_at": course.opened_at,
        "stage_changed_at": course.stage_changed_at,
        "next_step": row.next_step,
        "blockers": _reasons(row.blockers),
        "deadlines": _deadlines(row.deadlines),
    }


def _event_out(event) -> dict:
    return {
        "id": event.pk,
        "kind": event.kind,
        "kind_label": event.get_kind_display(),
        "occurred_at": event.occurred_at,
        "actor_name": str(event.actor) if event.actor_id else "client (one-time link)",
        "from_stage": event.from_stage,
        "to_stage": event.to_stage,
        "action": event.action,
        "reason": event.reason,
        "positive": event.positive,
        "overridden": event.overridden,
        "data": event.data,
    }


DETAIL_FIELDS = (
    "eligibility",
    "clearance_on",
    "clearance_valid_days",
    "preparation_planned",
    "closed_at",
)


def _course_out(course) -> dict:
    row = selectors.course_row(course, now=timezone.now())
    data = _summary(row)
    data.update(
        {field: getattr(course, field) for field in DETAIL_FIELDS},
        consent=asdict(selectors.consent_status(course)),
        prescription_active=row.facts.prescription_active,
        doses_dispensed=row.facts.doses_authorised,
        doses_used=row.facts.doses_used,
        allowed_actions=[
            {
                "action": action.value,
                "label": rules.TRANSITIONS[action].label,
                "side": rules.TRANSITIONS[action].side.value,
                "reason_required": rules.TRANSITIONS[action].reason_required,
            }
            for action in rules.allowed_actions(row.facts)
        ],
        timeline=[_event_out(e) for e in selectors.course_timeline(course=course)],
    )
    return data


def _reload(actor, course_id: int) -> dict:
    # The write was audited by its service; this read only shapes the answer.
    return _course_out(
        selectors.course_get_for_actor(actor=actor, course_id=course_id, audit_action="")
    )


# ---- endpoints ----------------------------------------------------------------------------


@router.get(
    "",
    response={200: CoursePage, 404: ErrorsOut, 422: ErrorsOut},
    summary="List courses",
)
def course_list(request, params: Query[CourseListParams]):
    """One page (25) of the actor's caseload; admins see every course of the practice.
    `status=overdue` lists courses with an open overdue task from the deadline scan."""
    actor = staff_actor(request)
    page = selectors.course_list(
        actor=actor,
        filters=selectors.CourseFilters(
            stage=params.stage or "",
            pathway=params.pathway or "",
            delivery=params.delivery or "",
            therapist=params.therapist,
            status=params.status,
            sort=params.sort,
            page=params.page,
        ),
    )
    return {
        "count": page.paginator.count,
        "count_exact": page.paginator.count_exact,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "has_next": page.has_next(),
        "results": [_summary(row) for row in page.object_list],
    }


@router.post("", response={201: CourseOut, **ERRORS}, summary="Open a course")
def course_open(request, payload: CourseOpenIn):
    """Open a course at inquiry for a client with no open course (409 if one is open). The
    practice's admins, or a therapist on the client's care team, may open one."""
    actor = staff_actor(request)
    course = services.course_open(
        actor=actor,
        client_id=payload.client_id,
        pathway=payload.pathway,
        delivery=payload.delivery,
        therapist_id=payload.therapist_id,
    )
    return Status(201, _reload(actor, course.pk))


@router.get("/{int:course_id}", response={200: CourseOut, 404: ErrorsOut}, summary="Get a course")
def course_get(request, course_id: int):
    """The course with its facts, the steps possible from its stage, and its timeline
    (newest first)."""
    actor = staff_actor(request)
    return _course_out(selectors.course_get_for_actor(actor=actor, course_id=course_id))


@router.get(
    "/{int:course_id}/gates",
    response={200: GatesOut, 404: ErrorsOut},
    summary="The course's checklist now",
)
def course_gates(request, course_id: int):
    """Every reason that blocks dosing (what can be known in advance; the day's vitals and
    attestations are checked when dosing starts) and each possible step, plus deadlines.
    Clearance for `decide_eligible` is given with the step, so it is listed until then."""
    actor = staff_actor(request)
    course = selectors.course_get_for_actor(actor=actor, course_id=course_id)
    now = timezone.now()
    facts = selectors.course_facts(course)
    policy = selectors.gate_policy(course)
    return {
        "dosing": _reasons(rules.dosing_reasons(facts, now=now, policy=policy)),
        "transitions": {
            action.value: _reasons(rules.transition_reasons(action, facts, now=now, policy=policy))
            for action in rules.allowed_actions(facts)
        },
        "deadlines": _deadlines(rules.deadlines(facts, now=now, policy=policy)),
    }


@router.post(
    "/{int:course_id}/transitions",
    response={200: CourseOut, **ERRORS},
    summary="Take a step",
)
def course_transition(request, course_id: int, payload: TransitionIn):
    """Move the course along one step. 403 when the step is the other side's; 409 listing
    every reason when a rule refuses (nothing is changed); 422 for a missing reason or
    field. Decisions record who, when and why on the timeline."""
    actor = staff_actor(request)
    services.course_transition(actor=actor, course_id=course_id, **payload.dict())
    return _reload(actor, course_id)


@router.post(
    "/{int:course_id}/records",
    response={201: EventOut, **ERRORS},
    summary="Record a session or decision",
)
def course_record(request, course_id: int, payload: RecordIn):
    """Record a preparation session, risk screen or integration session (therapist side), or a
    medical follow-up (prescriber side). Consent is signed and withdrawn through
    /api/v1/consents; any other kind is a 422."""
    actor = staff_actor(request)
    event = services.course_record(actor=actor, course_id=course_id, **payload.dict())
    return Status(201, _event_out(event))


@router.post(
    "/{int:course_id}/dosing",
    response={201: EventOut, **ERRORS},
    summary="Start a dosing session",
)
def dosing_start(request, course_id: int, payload: DosingIn):
    """Check the whole dosing gate with the day's vitals and attestations, then start the
    session and use one dose. 409 lists every reason with `overridable`, `override_by`
    (treating_clinician, prescriber or nobody) and `why_not` (why the caller may not
    override it). A reason passes only if a decision signed ahead covers it (POST
    .../overrides) or the caller owns it and sends it in `overrides` with a structured
    justification, which signs a decision (decision 0029)."""
    actor = staff_actor(request)
    data = payload.dict(exclude={"overrides"})
    amount_mg = data.pop("amount_mg")
    event = services.dosing_start(
        actor=actor, course_id=course_id, day=rules.DoseDay(**data),
        overrides=justifications(payload.overrides), amount_mg=amount_mg,
    )  # fmt: skip
    return Status(201, _event_out(event))


@router.post(
    "/{int:course_id}/overrides",
    response={201: OverrideOut, **ERRORS},
    summary="Sign a gate override ahead of the start",
)
def override_sign(request, course_id: int, payload: StandingOverrideIn):
    """The owner of a reason (the prescriber for blood pressure and the clearance) signs an
    override for reasons the gate gives now with the reading they saw; it covers a start
    within a few hours (blood pressure: no higher reading). 409 lists every asked-for
    reason the caller may not override, with why; 422 for a reason the gate does not give."""
    actor = staff_actor(request)
    decision = services.gate_override_sign(
        actor=actor, course_id=course_id, overrides=justifications(payload.overrides),
        day=rules.DoseDay(bp_systolic=payload.bp_systolic, bp_diastolic=payload.bp_diastolic),
    )  # fmt: skip
    return Status(201, _override_out(selectors.override_row(decision)))


@router.get(
    "/overrides",
    response={200: OverridePage, 404: ErrorsOut, 422: ErrorsOut},
    summary="List the practice's gate overrides",
)
def override_list(request, page: int = 1):
    """Every signed override of the practice, newest first, 50 a page: signer, licence,
    time (with the practice's zone named), reasons seen and justification. Practice admins
    only; anyone else gets 404."""
    actor = staff_actor(request)
    result = selectors.override_list(actor=actor, page=page)
    return {
        "count": result.paginator.count,
        "page": result.number,
        "pages": result.paginator.num_pages,
        "results": [_override_out(row) for row in result.object_list],
    }
