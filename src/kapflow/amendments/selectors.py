"""Read paths for amendment requests: the client's own (portal), the practice's queue, one
request, and the requests shown beside the part of the record they concern.

Who reads, from kapflow.policy: the client reads their own requests; on the staff side, the
practice holding the record reads them, through its members who see the client
(policy.clients_queryset) and see clinical records (policy.can_see_clinical): its admins and
its clinicians on the care team. A partner organisation and billers read none, except as part
of a note they may read (the note's page shows its amendments). Anything else is "not found";
a request held by someone else is recorded with audit_access_denied. Reads are audited here.
"""

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from kapflow import policy
from kapflow.accounts.models import OrganisationKind
from kapflow.amendments.models import AmendmentRequest, RecordPart, Status
from kapflow.audit.services import audit_access_denied, audit_record, audit_record_many
from kapflow.clinical import amendments as rules
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.patients.models import Client

QUEUE_LIMIT = 200


def _people(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("response", "note", "decided_by__user")


def with_deadline(rows, *, today) -> list[AmendmentRequest]:
    """Set `overdue` and `days_left` on each row from its stored due date and the practice's
    `today` (no query)."""
    rows = list(rows)
    for row in rows:
        row.overdue = row.is_open and rules.is_overdue(row.due_on, today=today)
        row.days_left = rules.days_left(row.due_on, today=today)
    return rows


# ---- the client ------------------------------------------------------------------------------


def own_client(*, actor) -> Client:
    """The signed-in client's own record, or NotFound for anyone else (companions, staff)."""
    if not policy.is_client_actor(actor):
        raise NotFound()
    client = (
        Client.objects.for_org(actor.organisation)
        .filter(user_id=actor.user_id)
        .select_related("organisation")
        .first()
    )
    if client is None:
        raise NotFound()
    return client


def own_amendments(*, actor) -> list[AmendmentRequest]:
    """The signed-in client's requests, newest first, with their deadlines. One audit row."""
    client = own_client(actor=actor)
    rows = _people(
        AmendmentRequest.objects.for_org(client.organisation_id).filter(client=client)
    ).order_by("-requested_at", "-id")
    rows = with_deadline(rows, today=clock.clinical_date(client.organisation))
    audit_record(actor=actor, action="amendment.list", target=client, client_id=client.pk)
    return rows


def own_amendment_get(*, actor, amendment_id: int, audit: bool = True) -> AmendmentRequest:
    """One of the signed-in client's own requests; anyone else's is "not found"."""
    client = own_client(actor=actor)
    row = (
        _people(AmendmentRequest.objects.for_org(client.organisation_id))
        .filter(pk=amendment_id, client=client)
        .first()
    )
    if row is None:
        audit_access_denied(actor=actor, model=AmendmentRequest, object_id=amendment_id)
        raise NotFound("Request not found.")
    row.client = client
    with_deadline([row], today=clock.clinical_date(client.organisation))
    if audit:
        audit_record(actor=actor, action="amendment.view", target=row, client_id=client.pk)
    return row


def own_responses(*, client: Client) -> list:
    """The questionnaires the client answered (current, submitted), newest first: the ones
    they may ask to amend."""
    from kapflow.assessments.models import Response
    from kapflow.assessments.selectors import current_responses

    return list(
        current_responses(Response.objects.for_org(client.organisation_id).filter(client=client))
        .only("pk", "instrument", "submitted_at", "client_id", "organisation_id")
        .order_by("-submitted_at", "-id")
    )


# ---- the practice ----------------------------------------------------------------------------


def _may_read(actor) -> bool:
    return policy.can_see_clinical(actor) and actor.organisation.kind == OrganisationKind.PRACTICE


def staff_queryset(actor) -> QuerySet:
    """Requests the staff actor may read: their practice's, for the clients they see."""
    if not _may_read(actor):
        return AmendmentRequest.objects.none()
    return AmendmentRequest.objects.for_org(actor.organisation).filter(
        client_id__in=policy.clients_queryset(actor).values("pk")
    )


def can_read_client_amendments(actor, client) -> bool:
    """Whether the client's record page shows its amendments section to this actor."""
    return _may_read(actor) and client.organisation_id == actor.organisation_id


def amendment_queue(*, actor, show: str = "open") -> list[AmendmentRequest]:
    """The practice's requests: `open` (default) by due date, overdue first; `all`, open ones
    first and then decided ones, newest first. The list shows clients' names, so each row is
    audited (`amendment.list`, one INSERT). Fixed query count whatever the number of rows."""
    if not _may_read(actor):
        raise NotFound()
    rows = staff_queryset(actor).select_related("client", "response", "note", "decided_by__user")
    if show == "all":
        rows = rows.annotate(
            open_first=Case(
                When(status=Status.OPEN, then=Value(0)), default=Value(1),
                output_field=IntegerField(),
            )
        ).order_by("open_first", "due_on", "-requested_at", "-id")  # fmt: skip
    else:
        rows = rows.filter(status=Status.OPEN).order_by("due_on", "requested_at", "id")
    rows = with_deadline(rows[:QUEUE_LIMIT], today=clock.clinical_date(actor.organisation))
    audit_record_many(actor=actor, action="amendment.list", targets=rows, client_attr="client_id")
    return rows


def amendment_get_for_actor(*, actor, amendment_id: int, audit: bool = True) -> AmendmentRequest:
    """One request the staff actor may read, with its client (care team and the decider's
    licences prefetched for policy), or NotFound. Audited as `amendment.view`."""
    row = (
        _people(staff_queryset(actor))
        .filter(pk=amendment_id)
        .select_related("client__organisation", "extended_by__user", "rebuttal_by__user")
        .prefetch_related("client__care_team")
        .first()
    )
    if row is None:
        audit_access_denied(actor=actor, model=AmendmentRequest, object_id=amendment_id)
        raise NotFound("Request not found.")
    with_deadline([row], today=clock.clinical_date(row.client.organisation))
    if audit:
        audit_record(actor=actor, action="amendment.view", target=row, client_id=row.client_id)
    return row


def amendments_for_client(*, actor, client: Client) -> list[AmendmentRequest]:
    """Every request about the client, newest first, for the client's record page. Empty for
    anyone who may not read them (ask can_read_client_amendments). One audit row when any is
    shown."""
    if not can_read_client_amendments(actor, client):
        return []
    rows = with_deadline(
        _people(staff_queryset(actor).filter(client_id=client.pk)).order_by("-requested_at", "-id"),
        today=clock.clinical_date(client.organisation),
    )
    if rows:
        audit_record(actor=actor, action="amendment.list", target=client, client_id=client.pk)
    return rows


# ---- beside the part of the record -----------------------------------------------------------
# The caller has already read the part (a note, a questionnaire response, the client's
# details) under its own rule and audit; what was asked and decided about it goes with it.


def note_amendments_prefetch() -> Prefetch:
    """For a note's selectors: the decided requests the clinician linked to each note,
    oldest first, as `note.record_amendments` (one query for any number of notes)."""
    return Prefetch(
        "amendment_requests",
        queryset=AmendmentRequest.objects.exclude(status=Status.OPEN)
        .select_related("decided_by__user")
        .order_by("decided_at", "id"),
        to_attr="record_amendments",
    )


def amendments_for_response(*, response) -> list[AmendmentRequest]:
    """Every request about this questionnaire response (open ones included), oldest first."""
    rows = (
        AmendmentRequest.objects.for_org(response.organisation_id)
        .filter(response_id=response.pk)
        .select_related("decided_by__user")
        .order_by("requested_at", "id")
    )
    return with_deadline(rows, today=clock.clinical_date(response.client.organisation))


def amendments_for_details(*, client: Client) -> list[AmendmentRequest]:
    """Decided requests about the client's personal details, oldest first."""
    return list(
        AmendmentRequest.objects.for_org(client.organisation_id)
        .filter(client_id=client.pk, part=RecordPart.DEMOGRAPHICS)
        .exclude(status=Status.OPEN)
        .select_related("decided_by__user")
        .order_by("decided_at", "id")
    )


def note_choices(*, actor, client: Client) -> list:
    """Signed progress notes of the client the actor may read, latest session first: the
    notes a decision can attach the amendment to. Psychotherapy notes are not part of the
    designated record set and drafts are not yet part of the record."""
    from kapflow.notes.models import NoteKind, NoteStatus

    return list(
        policy.notes_queryset(actor)
        .filter(client_id=client.pk, status=NoteStatus.SIGNED, kind=NoteKind.PROGRESS)
        .only("pk", "session_type", "session_date", "client_id", "organisation_id")
        .order_by("-session_date", "-id")
    )
