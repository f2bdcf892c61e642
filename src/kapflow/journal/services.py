"""Journal write paths: the signed-in client writes, edits and deletes their own entries.

Nobody else writes here: staff read shared entries through kapflow.journal.selectors. The
audit trail records the action, the entry id and the changed field names, never the text.
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.journal.models import BODY_MAX, EntryKind, JournalEntry
from kapflow.journal.selectors import own_client
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)


def _dosing_event(client: Client, dosing_event_id: int | None):
    """One of the client's own dosing sessions, or a field error naming `dosing_event`."""
    if dosing_event_id is None:
        return None
    from kapflow.courses.models import CourseEvent, EventKind

    event = (
        CourseEvent.objects.for_org(client.organisation_id)
        .filter(pk=dosing_event_id, course__client=client, kind=EventKind.DOSING)
        .select_related("course")
        .first()
    )
    if event is None:
        raise ValidationError({"dosing_event": "Choose one of your dosing sessions."})
    return event


def _course_id_for(client: Client, event) -> int | None:
    """The course the entry belongs to: the dosing session's, else the client's open course,
    else their latest one (a reflection after the course closed still reaches the therapist)."""
    if event is not None:
        return event.course_id
    from kapflow.courses.models import Course

    return (
        Course.objects.for_org(client.organisation_id)
        .filter(client=client)
        .order_by(F("closed_at").desc(nulls_first=True), "-opened_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


def _clean_input(kind: str, body: str) -> tuple[str, str]:
    errors = {}
    if kind not in EntryKind.values:
        errors["kind"] = "Choose what kind of entry this is."
    body = (body or "").strip() if isinstance(body, str) else ""
    if not body:
        errors["body"] = "Write something before saving."
    elif len(body) > BODY_MAX:
        # A TextField's max_length binds forms only; full_clean does not check it.
        errors["body"] = f"Keep an entry under {BODY_MAX:,} characters."
    elif "\x00" in body:
        # PostgreSQL cannot store a NUL character in text.
        errors["body"] = "The text contains a character that cannot be saved."
    if errors:
        raise ValidationError(errors)
    return kind, body


@transaction.atomic
def entry_create(
    *,
    actor: Membership,
    kind: str,
    body: str,
    shared: bool = False,
    dosing_event_id: int | None = None,
    now: datetime | None = None,
) -> JournalEntry:
    """The client writes an entry: private unless `shared`."""
    now = now or timezone.now()
    client = own_client(actor=actor)
    kind, body = _clean_input(kind, body)
    event = _dosing_event(client, dosing_event_id)
    entry = JournalEntry(
        organisation_id=client.organisation_id, client=client,
        course_id=_course_id_for(client, event), kind=kind, dosing_event=event, body=body,
        shared=bool(shared), created_at=now, updated_at=now, shared_at=now if shared else None,
    )  # fmt: skip
    entry.full_clean()
    entry.save()
    audit_record(actor=actor, action="journal.create", target=entry, client_id=client.pk)
    logger.info("journal.created", extra={"entry_id": entry.pk, "shared": entry.shared})
    return entry


def _locked_own(actor: Membership, entry_id: int) -> tuple[Client, JournalEntry]:
    client = own_client(actor=actor, probed=(JournalEntry, entry_id))
    entry = (
        JournalEntry.objects.for_org(client.organisation_id)
        .select_for_update()
        .filter(pk=entry_id, client=client)
        .first()
    )
    if entry is None:
        raise audit_not_found(actor=actor, model=JournalEntry, object_id=entry_id)
    return client, entry


@transaction.atomic
def entry_update(
    *,
    actor: Membership,
    entry_id: int,
    kind: str,
    body: str,
    shared: bool,
    dosing_event_id: int | None = None,
    now: datetime | None = None,
) -> JournalEntry:
    """The client edits their own entry. Sharing stays as chosen: an edit of a shared entry
    keeps it shared (updated_at shows it changed); unsharing hides it from staff again."""
    now = now or timezone.now()
    client, entry = _locked_own(actor, entry_id)
    kind, body = _clean_input(kind, body)
    event = _dosing_event(client, dosing_event_id)
    shared = bool(shared)
    changed = [
        name
        for name, old, new in [
            ("kind", entry.kind, kind),
            ("body", entry.body, body),
            ("dosing_event", entry.dosing_event_id, event.pk if event else None),
            ("shared", entry.shared, shared),
        ]
        if old != new
    ]
    if not changed:
        return entry
    if shared and not entry.shared:
        entry.shared_at = now
    elif not shared:
        entry.shared_at = None
    if "dosing_event" in changed:
        entry.course_id = _course_id_for(client, event)
    entry.kind, entry.body, entry.dosing_event, entry.shared = kind, body, event, shared
    entry.updated_at = now
    entry.full_clean()
    entry.save()
    audit_record(
        actor=actor, action="journal.update", target=entry, client_id=client.pk,
        changed_fields=changed,
    )  # fmt: skip
    return entry


@transaction.atomic
def entry_delete(*, actor: Membership, entry_id: int) -> None:
    """The client deletes their own entry for good; the audit row keeps only its id."""
    client, entry = _locked_own(actor, entry_id)
    audit_record(actor=actor, action="journal.delete", target=entry, client_id=client.pk)
    entry.delete()
    logger.info("journal.deleted", extra={"entry_id": entry_id})
