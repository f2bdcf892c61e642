"""Amendment requests over JSON (HIPAA 164.526; decision 0035). Same selectors, services and
rules as the pages.

The client's endpoints (`/mine...`) answer "not found" to anyone but a signed-in client and
for anyone else's request. The practice's endpoints answer "not found" to anyone who may not
read the request (billers, partner organisations, other practices, clinicians not on the care
team) and 403 to someone who may read it but not decide (policy.can_decide_amendment). A
request already decided is 409 `amendment.decided`; a field at fault is 422 naming it.
"""

from datetime import date, datetime
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field

from kapflow.amendments import selectors, services
from kapflow.amendments.models import DenialBasis, RecordPart
from kapflow.amendments.models import Status as AmendmentStatus
from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor
from kapflow.core.errors import NotFound
from kapflow.patients.selectors import client_get_for_actor

router = Router(tags=["amendments"])

PartName = Literal[tuple(RecordPart.values)]  # type: ignore[valid-type]
StatusName = Literal[tuple(AmendmentStatus.values)]  # type: ignore[valid-type]
DenialBasisName = Literal[tuple(DenialBasis.values)]  # type: ignore[valid-type]


class AmendmentOut(Schema):
    id: int
    client_id: int
    part: PartName
    part_label: str
    response_id: int | None = Field(description="The questionnaire response, for `assessment`.")
    note_id: int | None = Field(description="The signed note the clinician identified.")
    part_description: str
    what_is_wrong: str
    should_say: str
    why: str
    tell_others: str
    requested_at: datetime
    received_on: date = Field(description="The practice's clinical date of receipt.")
    due_on: date = Field(description="Decide by this day: 60 days after receipt, 90 if extended.")
    overdue: bool = Field(description="Still open after its due date (the practice's day).")
    extended_at: datetime | None
    extension_reason: str
    status: StatusName
    decided_at: datetime | None
    decided_by: str = Field(description="The deciding clinician's name at the time.")
    licence: str = Field(description="The licence the decision was made under.")
    denial_basis: DenialBasisName | Literal[""] = Field(
        description="For a denial: the ground from 45 CFR 164.526(a)(2)."
    )
    denial_basis_label: str
    explanation: str
    amendment_text: str = Field(description="For an acceptance: the amendment in the record.")
    disagreement: str
    disagreement_at: datetime | None
    rebuttal: str
    rebuttal_at: datetime | None
    rebuttal_by: str


class AmendmentAskIn(Schema):
    part: PartName = Field(
        description="demographics: personal details; assessment: a questionnaire answered "
        "(name response_id); note: a session note (describe which in part_description); "
        "other: anything else (describe it)."
    )
    response_id: int | None = Field(None, ge=1, le=MAX_ID)
    part_description: str = ""
    what_is_wrong: str
    should_say: str
    why: str
    tell_others: str = ""


class AmendmentQuestionnaireOut(Schema):
    id: int
    instrument: str
    submitted_at: datetime


class AmendmentDisagreementIn(Schema):
    statement: str


class AmendmentExtensionIn(Schema):
    reason: str = Field(description="Why more time is needed; the client is sent it.")


class AmendmentDecisionIn(Schema):
    decision: Literal["accept", "deny"]
    amendment_text: str = Field("", description="accept: the amendment as it enters the record.")
    denial_basis: DenialBasisName | Literal[""] = Field(
        "", description="deny: the ground from 45 CFR 164.526(a)(2)."
    )
    explanation: str = Field(
        "", description="deny: required, for the client; accept: an optional message."
    )
    note_id: int | None = Field(
        None, ge=1, le=MAX_ID,
        description="A signed progress note of the client (required to accept a `note` request).",
    )  # fmt: skip


class AmendmentRebuttalIn(Schema):
    rebuttal: str


def _out(row) -> dict:
    licence = " ".join(p for p in (row.licence_type, row.licence_state, row.licence_number) if p)
    return {
        "id": row.pk,
        "client_id": row.client_id,
        "part": row.part,
        "part_label": row.get_part_display(),
        "response_id": row.response_id,
        "note_id": row.note_id,
        "part_description": row.part_description,
        "what_is_wrong": row.what_is_wrong,
        "should_say": row.should_say,
        "why": row.why,
        "tell_others": row.tell_others,
        "requested_at": row.requested_at,
        "received_on": row.received_on,
        "due_on": row.due_on,
        "overdue": bool(getattr(row, "overdue", False)),
        "extended_at": row.extended_at,
        "extension_reason": row.extension_reason,
        "status": row.status,
        "decided_at": row.decided_at,
        "decided_by": row.decided_by_name,
        "licence": licence,
        "denial_basis": row.denial_basis,
        "denial_basis_label": row.get_denial_basis_display() if row.denial_basis else "",
        "explanation": row.explanation,
        "amendment_text": row.amendment_text,
        "disagreement": row.disagreement,
        "disagreement_at": row.disagreement_at,
        "rebuttal": row.rebuttal,
        "rebuttal_at": row.rebuttal_at,
        "rebuttal_by": row.rebuttal_by_name,
    }


# ---- the client ------------------------------------------------------------------------------


@router.get("/mine", response={200: list[AmendmentOut], 404: ErrorsOut}, summary="List my requests")
def mine(request):
    """The signed-in client's requests to amend their record, newest first."""
    return [_out(row) for row in selectors.own_amendments(actor=request.actor)]


@router.get(
    "/mine/questionnaires",
    response={200: list[AmendmentQuestionnaireOut], 404: ErrorsOut},
    summary="Questionnaires I may ask to amend",
)
def mine_questionnaires(request):
    """The questionnaires the signed-in client answered: the ids a request about a
    questionnaire names as `response_id`."""
    client = selectors.own_client(actor=request.actor)
    return [
        {"id": r.pk, "instrument": r.instrument, "submitted_at": r.submitted_at}
        for r in selectors.own_responses(client=client)
    ]


@router.post("/mine", response={201: AmendmentOut, **ERRORS}, summary="Ask to amend my record")
def mine_ask(request, payload: AmendmentAskIn):
    """The signed-in client asks to amend one part of their record. Due 60 days after the
    practice's day of receipt."""
    row = services.amendment_request(actor=request.actor, **payload.dict())
    return Status(201, _out(selectors.own_amendment_get(
        actor=request.actor, amendment_id=row.pk, audit=False
    )))  # fmt: skip


@router.get(
    "/mine/{int:amendment_id}",
    response={200: AmendmentOut, 404: ErrorsOut},
    summary="Read my request",
)
def mine_get(request, amendment_id: int):
    """One of the signed-in client's requests, with the decision and its reason."""
    return _out(selectors.own_amendment_get(actor=request.actor, amendment_id=amendment_id))


@router.post(
    "/mine/{int:amendment_id}/disagreement",
    response={200: AmendmentOut, **ERRORS},
    summary="File a statement of disagreement",
)
def mine_disagree(request, amendment_id: int, payload: AmendmentDisagreementIn):
    """After a denial, once: the statement is kept with the record. 409
    `amendment.not_denied` or `amendment.disagreement_filed` otherwise."""
    services.amendment_disagree(
        actor=request.actor, amendment_id=amendment_id, statement=payload.statement
    )
    return _out(
        selectors.own_amendment_get(actor=request.actor, amendment_id=amendment_id, audit=False)
    )


# ---- the practice ----------------------------------------------------------------------------


@router.get(
    "",
    response={200: list[AmendmentOut], 404: ErrorsOut, 422: ErrorsOut},
    summary="The request queue",
)
def queue(request, show: Literal["open", "all"] = "open"):
    """The practice's requests the actor may read: open ones by due date (`show=open`), or
    every one (`show=all`). Practice admins and clinicians on the client's care team."""
    actor = staff_actor(request)
    return [_out(row) for row in selectors.amendment_queue(actor=actor, show=show)]


@router.get(
    "/clients/{int:client_id}",
    response={200: list[AmendmentOut], 404: ErrorsOut},
    summary="A client's requests",
)
def client_amendments(request, client_id: int):
    """Every request about the client, newest first."""
    actor = staff_actor(request)
    client = client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    if not selectors.can_read_client_amendments(actor, client):
        raise NotFound("Client not found.")
    return [_out(row) for row in selectors.amendments_for_client(actor=actor, client=client)]


@router.get(
    "/{int:amendment_id}", response={200: AmendmentOut, 404: ErrorsOut}, summary="Read a request"
)
def get(request, amendment_id: int):
    actor = staff_actor(request)
    return _out(selectors.amendment_get_for_actor(actor=actor, amendment_id=amendment_id))


def _reloaded(actor, amendment_id: int) -> dict:
    return _out(
        selectors.amendment_get_for_actor(actor=actor, amendment_id=amendment_id, audit=False)
    )


@router.post(
    "/{int:amendment_id}/extension",
    response={200: AmendmentOut, **ERRORS},
    summary="Extend the deadline once",
)
def extend(request, amendment_id: int, payload: AmendmentExtensionIn):
    """30 more days, once, within the first 60, with the reason the client is sent. 409
    `amendment.extension_refused` otherwise."""
    actor = staff_actor(request)
    services.amendment_extend(actor=actor, amendment_id=amendment_id, reason=payload.reason)
    return _reloaded(actor, amendment_id)


@router.post(
    "/{int:amendment_id}/decision",
    response={200: AmendmentOut, **ERRORS},
    summary="Accept or deny",
)
def decide(request, amendment_id: int, payload: AmendmentDecisionIn):
    """Accept (with `amendment_text`) or deny (with `denial_basis` and `explanation`). Final;
    the client is told."""
    actor = staff_actor(request)
    services.amendment_decide(actor=actor, amendment_id=amendment_id, **payload.dict())
    return _reloaded(actor, amendment_id)


@router.post(
    "/{int:amendment_id}/rebuttal",
    response={200: AmendmentOut, **ERRORS},
    summary="Answer a statement of disagreement",
)
def rebut(request, amendment_id: int, payload: AmendmentRebuttalIn):
    """Once, after the client's statement of disagreement; the client is sent a copy."""
    actor = staff_actor(request)
    services.amendment_rebut(actor=actor, amendment_id=amendment_id, rebuttal=payload.rebuttal)
    return _reloaded(actor, amendment_id)
