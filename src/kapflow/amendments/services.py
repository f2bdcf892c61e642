"""Amendment write paths (HIPAA 45 CFR 164.526; decision 0035): the client asks and, after a
denial, disagrees; a licensed clinician of the practice extends the deadline once, accepts or
denies, and may answer a disagreement with a rebuttal.

Each function locks the request, asks kapflow.policy and kapflow.clinical.amendments, checks
every field before writing, saves and audits in one transaction. Nothing here edits the part
of the record concerned: an accepted amendment is shown with it. E-mails carry no PHI and are
queued after commit with ids only (kapflow.amendments.tasks).
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from kapflow import policy
from kapflow.accounts.models import ClinicianLicence, Membership
from kapflow.amendments import selectors
from kapflow.amendments.models import (
    PART_DESCRIPTION_MAX,
    TELL_OTHERS_MAX,
    TEXT_MAX,
    AmendmentRequest,
    DenialBasis,
    RecordPart,
    Status,
)
from kapflow.audit.services import audit_access_denied, audit_record
from kapflow.clinical import amendments as rules
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)

DECISIONS = ("accept", "deny")


def _text(errors: dict, field: str, value, *, required: str, max_length: int = TEXT_MAX) -> str:
    """A stripped text, or a message under `field` in `errors` (`required` is the message for
    an empty one; an empty string means the field is optional)."""
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        if required:
            errors[field] = required
    elif len(value) > max_length:
        errors[field] = f"Keep this under {max_length:,} characters."
    elif "\x00" in value:
        # PostgreSQL cannot store a NUL character in text.
        errors[field] = "The text contains a character that cannot be saved."
    return value


def _notify_client(row: AmendmentRequest) -> None:
    from kapflow.amendments.tasks import amendment_notify_client

    amendment_id = row.pk
    transaction.on_commit(lambda: amendment_notify_client.enqueue(amendment_id=amendment_id))


def _notify_team(row: AmendmentRequest) -> None:
    from kapflow.amendments.tasks import amendment_notify_team

    amendment_id = row.pk
    transaction.on_commit(lambda: amendment_notify_team.enqueue(amendment_id=amendment_id))


# ---- the client ------------------------------------------------------------------------------


@transaction.atomic
def amendment_request(
    *,
    actor: Membership,
    part: str,
    what_is_wrong: str,
    should_say: str,
    why: str,
    response_id: int | None = None,
    part_description: str = "",
    tell_others: str = "",
    now: datetime | None = None,
) -> AmendmentRequest:
    """The signed-in client asks to amend one part of their own record. Received on the
    practice's clinical date; due 60 days later."""
    now = now or clock.now()
    client = selectors.own_client(actor=actor)
    errors: dict = {}
    if part not in RecordPart.values:
        errors["part"] = "Choose which part of your record this is about."
    response = None
    if part == RecordPart.ASSESSMENT:
        response = _own_response(client, response_id)
        if response is None:
            errors["response_id"] = "Choose one of the questionnaires you answered."
    elif response_id is not None:
        errors["response_id"] = "Choose a questionnaire only when the request is about one."
    describe = (
        "Say which session (its date, roughly) the note is about."
        if part == RecordPart.NOTE
        else "Describe which part of your record this is about."
        if part == RecordPart.OTHER
        else ""
    )
    part_description = _text(
        errors, "part_description", part_description, required=describe,
        max_length=PART_DESCRIPTION_MAX,
    )  # fmt: skip
    what_is_wrong = _text(
        errors, "what_is_wrong", what_is_wrong, required="Say what is wrong or missing."
    )
    should_say = _text(errors, "should_say", should_say, required="Say what it should say.")
    why = _text(errors, "why", why, required="Say why it should change.")
    tell_others = _text(errors, "tell_others", tell_others, required="", max_length=TELL_OTHERS_MAX)
    if errors:
        raise ValidationError(errors)
    received_on = clock.clinical_date(client.organisation, now)
    row = AmendmentRequest(
        organisation_id=client.organisation_id, client=client, part=part, response=response,
        part_description=part_description, what_is_wrong=what_is_wrong,
        should_say=should_say, why=why, tell_others=tell_others, requested_at=now,
        requested_by_id=actor.user_id, received_on=received_on,
        due_on=rules.due_date(received_on, extended=False),
    )  # fmt: skip
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="amendment.request", target=row, client_id=client.pk)
    logger.info("amendment.requested", extra={"amendment_id": row.pk})
    _notify_team(row)
    return row


def _own_response(client: Client, response_id):
    from kapflow.assessments.models import Response
    from kapflow.assessments.selectors import current_responses

    if not isinstance(response_id, int) or isinstance(response_id, bool):
        return None
    return (
        current_responses(Response.objects.for_org(client.organisation_id))
        .filter(pk=response_id, client=client)
        .first()
    )


@transaction.atomic
def amendment_disagree(
    *, actor: Membership, amendment_id: int, statement: str, now: datetime | None = None
) -> AmendmentRequest:
    """After a denial, the client files a statement of disagreement (once). It is kept with
    the request and shown wherever the part of the record is shown (164.526(d)(1)(ii))."""
    now = now or clock.now()
    client = selectors.own_client(actor=actor)
    row = (
        AmendmentRequest.objects.for_org(client.organisation_id)
        .select_for_update()
        .filter(pk=amendment_id, client=client)
        .first()
    )
    if row is None:
        audit_access_denied(actor=actor, model=AmendmentRequest, object_id=amendment_id)
        raise NotFound("Request not found.")
    if row.status != Status.DENIED:
        raise DomainError(
            "A statement of disagreement can be filed only after a request is denied.",
            code="amendment.not_denied",
        )
    if row.disagreement_at is not None:
        raise DomainError(
            "You have already filed a statement of disagreement for this request.",
            code="amendment.disagreement_filed",
        )
    errors: dict = {}
    row.disagreement = _text(
        errors, "statement", statement, required="Write your statement before sending it."
    )
    if errors:
        raise ValidationError(errors)
    row.disagreement_at = now
    row.full_clean()
    row.save(update_fields=["disagreement", "disagreement_at"])
    audit_record(
        actor=actor, action="amendment.disagree", target=row, client_id=client.pk,
        changed_fields=["disagreement"],
    )  # fmt: skip
    logger.info("amendment.disagreed", extra={"amendment_id": row.pk})
    _notify_team(row)
    return row


# ---- the practice ----------------------------------------------------------------------------


def _locked(actor: Membership, amendment_id: int) -> AmendmentRequest:
    """The request locked for a decision (a double submit waits, then sees it decided), with
    its client, care team prefetched, or NotFound."""
    row = selectors.staff_queryset(actor).select_for_update().filter(pk=amendment_id).first()
    if row is None:
        audit_access_denied(actor=actor, model=AmendmentRequest, object_id=amendment_id)
        raise NotFound("Request not found.")
    row.client = (
        Client.objects.for_org(row.organisation_id)
        .select_related("organisation")
        .prefetch_related("care_team")
        .get(pk=row.client_id)
    )
    if not policy.can_decide_amendment(actor, row.client):
        raise PermissionDenied(
            "Only a clinician on the client's care team at this practice, licensed where the "
            "client is, can act on a request to amend their record.",
            code="amendment.not_allowed",
        )
    return row


def _still_open(row: AmendmentRequest) -> None:
    if row.status != Status.OPEN:
        raise DomainError(
            "This request has already been decided; a decision cannot be changed.",
            code="amendment.decided",
        )


def _licence(actor: Membership, client: Client, now: datetime) -> ClinicianLicence:
    """The decider's licence covering the client's state on the practice's day (policy has
    already said there is one)."""
    from django.db.models import Q

    today = clock.clinical_date(client.organisation, now)
    return (
        ClinicianLicence.objects.filter(user_id=actor.user_id, state=client.state)
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        .order_by("pk")
        .first()
    )


@transaction.atomic
def amendment_extend(
    *, actor: Membership, amendment_id: int, reason: str, now: datetime | None = None
) -> AmendmentRequest:
    """Extend the deadline once by 30 days, with a written reason the client is sent
    (164.526(b)(2)(ii)); only within the first 60 days."""
    now = now or clock.now()
    row = _locked(actor, amendment_id)
    _still_open(row)
    refusal = rules.extension_refusal(
        row.received_on, extended=row.is_extended,
        today=clock.clinical_date(row.client.organisation, now),
    )  # fmt: skip
    if refusal:
        raise DomainError(refusal, code="amendment.extension_refused")
    errors: dict = {}
    reason = _text(
        errors, "reason", reason, required="Give the reason for the delay: the client reads it."
    )
    if errors:
        raise ValidationError(errors)
    row.extended_at, row.extended_by, row.extension_reason = now, actor, reason
    row.due_on = rules.due_date(row.received_on, extended=True)
    row.full_clean()
    row.save(update_fields=["extended_at", "extended_by", "extension_reason", "due_on"])
    audit_record(
        actor=actor, action="amendment.extend", target=row, client_id=row.client_id,
        changed_fields=["due_on", "extension_reason"],
    )  # fmt: skip
    logger.info("amendment.extended", extra={"amendment_id": row.pk})
    _notify_client(row)
    return row


def _note_for(actor: Membership, row: AmendmentRequest, note_id, errors: dict):
    if note_id is None:
        return None
    if row.part not in (RecordPart.NOTE, RecordPart.OTHER):
        errors["note_id"] = (
            "Link a note only to a request about a session note or about something else."
        )
        return None
    choices = {note.pk: note for note in selectors.note_choices(actor=actor, client=row.client)}
    note = choices.get(note_id) if isinstance(note_id, int) else None
    if note is None:
        errors["note_id"] = "Choose one of this client's signed progress notes."
    return note


@transaction.atomic
def amendment_decide(
    *,
    actor: Membership,
    amendment_id: int,
    decision: str,
    amendment_text: str = "",
    denial_basis: str = "",
    explanation: str = "",
    note_id: int | None = None,
    now: datetime | None = None,
) -> AmendmentRequest:
    """Accept (with the amendment that goes into the record) or deny (with its ground from
    164.526(a)(2) and an explanation). Either may name the signed note concerned; a request
    about a session note must name it to be accepted. Final: it cannot be changed."""
    now = now or clock.now()
    row = _locked(actor, amendment_id)
    _still_open(row)
    errors: dict = {}
    if decision not in DECISIONS:
        errors["decision"] = "Choose to accept or to deny the request."
    note = _note_for(actor, row, note_id, errors)
    if decision == "accept":
        amendment_text = _text(
            errors, "amendment_text", amendment_text,
            required="Write the amendment as it will appear in the record.",
        )  # fmt: skip
        explanation = _text(errors, "explanation", explanation, required="")
        if row.part == RecordPart.NOTE and note is None and "note_id" not in errors:
            errors["note_id"] = "Choose the signed note this amendment belongs to."
        denial_basis = ""
    elif decision == "deny":
        if denial_basis not in DenialBasis.values:
            errors["denial_basis"] = "Choose the ground for the denial."
        explanation = _text(
            errors, "explanation", explanation,
            required="Explain the denial in plain words: the client reads it.",
        )  # fmt: skip
        amendment_text = ""
    if errors:
        raise ValidationError(errors)
    licence = _licence(actor, row.client, now)
    row.status = Status.ACCEPTED if decision == "accept" else Status.DENIED
    row.note = note
    row.decided_at, row.decided_by = now, actor
    row.decided_by_name = (actor.user.full_name or actor.user.email)[:200]
    row.licence_type = licence.licence_type
    row.licence_state = licence.state
    row.licence_number = licence.number
    row.denial_basis, row.explanation, row.amendment_text = (
        denial_basis, explanation, amendment_text,
    )  # fmt: skip
    row.full_clean()
    row.save()
    audit_record(
        actor=actor, action=f"amendment.{decision}", target=row, client_id=row.client_id,
        changed_fields=["status", *(["note"] if note else [])],
    )  # fmt: skip
    logger.info("amendment.decided", extra={"amendment_id": row.pk, "status": row.status})
    _notify_client(row)
    return row


@transaction.atomic
def amendment_rebut(
    *, actor: Membership, amendment_id: int, rebuttal: str, now: datetime | None = None
) -> AmendmentRequest:
    """The practice answers the client's statement of disagreement (once); the client is
    sent a copy (164.526(d)(3))."""
    now = now or clock.now()
    row = _locked(actor, amendment_id)
    if row.disagreement_at is None:
        raise DomainError(
            "A rebuttal answers the client's statement of disagreement; there is none.",
            code="amendment.no_disagreement",
        )
    if row.rebuttal_at is not None:
        raise DomainError(
            "A rebuttal has already been written for this request.",
            code="amendment.rebuttal_written",
        )
    errors: dict = {}
    rebuttal = _text(errors, "rebuttal", rebuttal, required="Write the rebuttal before saving.")
    if errors:
        raise ValidationError(errors)
    row.rebuttal, row.rebuttal_at, row.rebuttal_by = rebuttal, now, actor
    row.rebuttal_by_name = (actor.user.full_name or actor.user.email)[:200]
    row.full_clean()
    row.save(update_fields=["rebuttal", "rebuttal_at", "rebuttal_by", "rebuttal_by_name"])
    audit_record(
        actor=actor, action="amendment.rebut", target=row, client_id=row.client_id,
        changed_fields=["rebuttal"],
    )  # fmt: skip
    logger.info("amendment.rebutted", extra={"amendment_id": row.pk})
    _notify_client(row)
    return row
