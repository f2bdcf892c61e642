"""Writing audit rows. Every service that reads or writes client data calls audit_record in
the same transaction as the change, so an action and its trail commit or fail together.

Every row goes through kapflow.audit.chain.append, which chains it to the row before
(decision 0033); nothing else inserts audit rows. Sign-in, sign-out, failure, lockout and
denied-access events are written here too (receivers in kapflow.audit.signals).
"""

from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from kapflow.audit import chain
from kapflow.audit.models import AuditEvent, Disclosure, DisclosurePurpose
from kapflow.core import clock
from kapflow.core.context import RequestMeta, current_request_meta
from kapflow.core.errors import NotFound


def _event(
    *,
    actor,
    action,
    target,
    client_id,
    changed_fields,
    meta: RequestMeta | None = None,
    **fields,
):
    meta = meta or current_request_meta()
    return AuditEvent(
        at=clock.now(),
        actor_id=actor.user_id if actor is not None else None,
        organisation_id=actor.organisation_id if actor is not None else None,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=target.pk if target is not None else None,
        client_id=client_id,
        request_id=meta.request_id,
        client_request_id=meta.client_request_id,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        route=meta.route,
        changed_fields=sorted(changed_fields or []),
        **fields,
    )


def audit_record(
    *,
    actor,
    action: str,
    target=None,
    client_id: int | None = None,
    changed_fields=None,
    content_digest: str = "",
) -> AuditEvent:
    """One row: `actor` is the acting Membership (None for system tasks). An export passes
    the SHA-256 (hex) of the file it produced as `content_digest` (kapflow.audit.exports)."""
    event = _event(
        actor=actor,
        action=action,
        target=target,
        client_id=client_id,
        changed_fields=changed_fields,
        content_digest=content_digest,
    )
    chain.append([event])
    return event


def audit_record_many(
    *,
    actor,
    action: str,
    targets: Iterable,
    client_attr: str = "pk",
    content_digest: str = "",
) -> None:
    """One row per target in a single INSERT, e.g. every client shown on a list page, or
    every note in one exported file (each row then carries the file's `content_digest`).
    Inside audit_batch the rows wait for the batch's one INSERT."""
    events = [
        _event(
            actor=actor,
            action=action,
            target=target,
            client_id=getattr(target, client_attr),
            changed_fields=None,
            content_digest=content_digest,
        )
        for target in targets
    ]
    pending = _batched.get()
    if pending is not None:
        pending.extend(events)
    else:
        chain.append(events)


_batched: ContextVar[list | None] = ContextVar("kapflow_audit_batch", default=None)


@contextmanager
def audit_batch():
    """The list reads inside (audit_record_many) write their rows in one chained INSERT when
    the block ends, so a page showing several lists writes its trail once (decision 0042).
    The rows are written even when the block raises: what was read stays recorded."""
    token = _batched.set([])
    try:
        yield
    finally:
        events = _batched.get()
        _batched.reset(token)
        chain.append(events)


@transaction.atomic
def disclosure_record(*, actor, client_id: int, data: dict) -> Disclosure:
    """Staff record a disclosure of the client's information made outside kapflow (to an
    insurer, a court, public health, another provider) for the client's accounting (HIPAA
    164.528). `data` holds the form's fields: disclosed_on, recipient, recipient_address,
    purpose, purpose_detail, what, legal_basis. Field problems are a ValidationError naming
    each field; a client the actor may not keep disclosures for is NotFound."""
    from kapflow import policy
    from kapflow.core.errors import NotFound
    from kapflow.patients.selectors import client_get_for_actor

    client = client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    if not policy.can_keep_disclosures(actor, client):
        raise NotFound("Client not found.")
    text = {
        name: " ".join(str(data.get(name) or "").split())
        for name in (
            "recipient",
            "recipient_address",
            "purpose",
            "purpose_detail",
            "what",
            "legal_basis",
        )
    }
    errors = {}
    disclosed_on = data.get("disclosed_on")
    if not isinstance(disclosed_on, date):
        errors["disclosed_on"] = ["Enter the date of the disclosure."]
    elif disclosed_on > clock.clinical_date(client.organisation):
        errors["disclosed_on"] = ["The date of the disclosure cannot be in the future."]
    if text["purpose"] == DisclosurePurpose.OTHER and not text["purpose_detail"]:
        errors["purpose_detail"] = ["Say what the purpose was (for example: a court order)."]
    disclosure = Disclosure(
        organisation=client.organisation,
        client=client,
        disclosed_on=disclosed_on if isinstance(disclosed_on, date) else None,
        recorded_by=actor.user,
        recorded_at=clock.now(),
        **text,
    )
    try:
        disclosure.full_clean(exclude=list(errors))
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    disclosure.save()
    audit_record(actor=actor, action="disclosure.record", target=disclosure, client_id=client.pk)
    return disclosure


def audit_record_account(
    *,
    action: str,
    user_id: int | None,
    organisation_ids: Iterable[int | None],
    acted: bool,
    subject: str = "",
    meta: RequestMeta | None = None,
) -> list[AuditEvent]:
    """Sign-in family events: one row per organisation the person belongs to (each practice
    reports on its own members), or one row without an organisation.

    `acted` says whether the person did it (sign-in, sign-out: actor is the user) or it was
    tried on their account (failure, lockout: target is the user, actor unknown). `subject`
    is a normalised identity that matched no account; only its keyed hash is stored."""
    rows = []
    for organisation_id in dict.fromkeys(organisation_ids or [None]):
        event = _event(
            actor=None,
            action=action,
            target=None,
            client_id=None,
            changed_fields=None,
            meta=meta,
            subject_hash=chain.subject_hash(subject) if subject else "",
        )
        event.organisation_id = organisation_id
        if acted:
            event.actor_id = user_id
        if user_id is not None:
            event.target_type, event.target_id = "user", user_id
        rows.append(event)
    return chain.append(rows)


# The organisation holding a record of a model without its own `organisation` column.
HOLDER_FIELDS = {"accounts.ApiToken": "membership__organisation_id"}


def audit_access_denied(*, actor, model, object_id) -> AuditEvent | None:
    """A member asked for a record that exists but is not theirs to see (they get a 404).

    The row names the record's organisation in record_organisation, so the practice that
    holds the record sees the probe; the prober's own organisation does not (its admin would
    otherwise learn that the id exists). Ids only: no client, no name. Nothing is written
    for an id that does not exist, and one probe of one record writes one row per request."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        return None
    # A deliberate unscoped read: the one question is which organisation holds this id.
    holder_field = HOLDER_FIELDS.get(model._meta.label, "organisation_id")
    holder = model._base_manager.filter(pk=object_id).values_list(holder_field, flat=True)
    holder_id = holder.first()
    if holder_id is None:
        return None
    target_type = model._meta.model_name
    pending = _pending_denied.get()
    if pending is not None:
        for earlier in pending:
            if (earlier.target_type, earlier.target_id) == (target_type, object_id):
                return earlier
    event = _event(
        actor=actor,
        action="access.denied",
        target=None,
        client_id=None,
        changed_fields=None,
        record_organisation_id=holder_id,
    )
    event.target_type, event.target_id = target_type, object_id
    if pending is None:
        chain.append([event])
    else:
        pending.append(event)
    return event


def audit_not_found(*, actor, model, object_id, message: str = "Not found.") -> NotFound:
    """The NotFound to raise when `object_id` of `model` is not the actor's to see, after
    recording the probe for the organisation holding it (audit_access_denied; nothing for an
    id that exists nowhere). Every selector, service and view that reaches a tenant record by
    id raises this on its miss path, the same answer for "missing" and "not yours":

        if appointment is None:
            raise audit_not_found(actor=actor, model=Appointment, object_id=appointment_id)

    The allowed path runs no extra query; the miss path runs one (which organisation holds
    the id) whether or not it exists."""
    audit_access_denied(actor=actor, model=model, object_id=object_id)
    return NotFound(message)


# The record a page or an endpoint names by its first id (`<int:…>` in its path). A gate that
# turns the actor away before any lookup (a client on a staff page, staff on a client's page,
# a biller on a clinical one) records that record as probed: audit_route_not_found.
ROUTE_SUBJECTS = {
    "alert_id": "alerts.Alert",
    "amendment_id": "amendments.AmendmentRequest",
    "appointment_id": "scheduling.Appointment",
    "assignment_id": "assessments.Assignment",
    "attachment_id": "messaging.Attachment",
    "client_id": "patients.Client",
    "companion_id": "patients.Companion",
    "course_id": "courses.Course",
    "document_id": "consents.ConsentDocument",
    # Only journal routes start with an entry id (a session's entries follow its id).
    "entry_id": "journal.JournalEntry",
    "diagnosis_id": "billing.Diagnosis",
    "grant_id": "patients.EmergencyAccess",
    "group_id": "encounters.GroupSession",
    "inquiry_id": "directory.Inquiry",
    "invitation_id": "accounts.Invitation",
    "invoice_id": "billing.Invoice",
    "membership_id": "accounts.Membership",
    "note_id": "notes.Note",
    "payment_id": "billing.Payment",
    "prescription_id": "prescriptions.Prescription",
    "referral_id": "prescriptions.Referral",
    "response_id": "assessments.Response",
    "session_id": "encounters.DosingSession",
    "signature_id": "consents.ConsentSignature",
    "statement_id": "billing.Statement",
    "subscription_id": "billing.Subscription",
    "task_id": "assessments.UrgentTask",
    "thread_id": "messaging.Thread",
    "token_id": "accounts.ApiToken",
}


def audit_route_not_found(request, message: str = "Not found.") -> NotFound:
    """The NotFound for a gate that refuses the actor before looking anything up: the route's
    first id, when it names a record that exists, is recorded as a denied access for the
    organisation holding it (ROUTE_SUBJECTS). A route without an id records nothing. Never
    for a refusal after a lookup: the selector knows the record and raises audit_not_found."""
    from django.apps import apps

    match = getattr(request, "resolver_match", None)
    first = next(iter(match.kwargs.items()), None) if match is not None else None
    label = ROUTE_SUBJECTS.get(first[0]) if first is not None else None
    if label is not None:
        audit_access_denied(
            actor=getattr(request, "actor", None), model=apps.get_model(label), object_id=first[1]
        )
    return NotFound(message)


# A 404 usually ends the service's transaction in a rollback, which would take a row written
# inside it along. During a request the denied events wait here and DeniedAccessMiddleware
# writes them once the response has been sent, outside any transaction; elsewhere they are
# written at once.
_pending_denied: ContextVar[list | None] = ContextVar("kapflow_audit_denied", default=None)


def denied_scope_open():
    return _pending_denied.set([])


def denied_scope_close(token) -> list[AuditEvent]:
    """End the request's scope; the events it collected, still to be written."""
    pending = _pending_denied.get()
    _pending_denied.reset(token)
    return pending or []


def denied_write(events: list[AuditEvent]) -> None:
    if events:
        chain.append(events)


def audit_chain_check(*, batch_size: int = 5000):
    """Verify the whole chain against the last intact checkpoint and record the outcome as
    an AuditCheck row (the audit page shows the latest). Logs an error when it is broken."""
    import logging
    import time

    from kapflow.audit.models import AuditCheck

    previous = AuditCheck.objects.filter(ok=True).order_by("-at", "-id").first()
    checkpoint = (
        (previous.last_id, previous.last_digest)
        if previous is not None and previous.last_id is not None
        else None
    )
    started = time.perf_counter()
    result = chain.verify(batch_size=batch_size, checkpoint=checkpoint)
    check = AuditCheck.objects.create(
        at=clock.now(),
        ok=result.ok,
        events=result.events,
        last_id=result.last_id,
        last_digest=result.last_digest if result.last_id is not None else "",
        broken_id=result.broken_id,
        detail=result.detail[:300],
        seconds=round(time.perf_counter() - started, 3),
    )
    log = logging.getLogger(__name__)
    if result.ok:
        log.info("audit.chain_verified", extra={"events": result.events})
    else:
        log.error(
            "audit.chain_broken", extra={"broken_id": result.broken_id, "events": result.events}
        )
    return check
