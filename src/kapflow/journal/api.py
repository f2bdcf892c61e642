"""The journal over JSON: the signed-in client's own entries (list, write, edit, delete) and
dosing sessions, and, for staff, the entries a client shared on a course.

Same selectors, services and rules as the pages. The client's endpoints answer "not found"
to anyone who is not a signed-in client (companions and staff included) and for anyone
else's entry; the course endpoint answers "not found" to anyone
policy.can_read_shared_journal refuses (a partner prescriber included).
"""

from datetime import datetime
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field, StrictBool

from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor
from kapflow.journal import selectors, services
from kapflow.journal.models import BODY_MAX, EntryKind

router = Router(tags=["journal"])

KindName = Literal[tuple(EntryKind.values)]  # type: ignore[valid-type]


class JournalEntryIn(Schema):
    kind: KindName = Field(
        description="intention: before a dosing session; integration: after one; reflection."
    )
    # The length is checked by the service, so that a 422 names `body` (the shared
    # validation handler drops "body" from pydantic's error locations).
    body: str = Field(description=f"The text (required, at most {BODY_MAX:,} characters).")
    shared: StrictBool = Field(
        False, description="true shares it with the therapist; false keeps it private."
    )
    dosing_event_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="One of the client's dosing sessions, if any."
    )


class JournalEntryOut(Schema):
    id: int
    kind: KindName
    course_id: int | None
    dosing_event_id: int | None
    dosing_session_at: datetime | None = Field(description="When that dosing session was.")
    body: str
    shared: bool
    created_at: datetime
    updated_at: datetime
    shared_at: datetime | None


class SharedEntryOut(JournalEntryOut):
    client_id: int


class DosingSessionOut(Schema):
    id: int
    course_id: int
    occurred_at: datetime


def _entry_out(entry) -> dict:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "course_id": entry.course_id,
        "dosing_event_id": entry.dosing_event_id,
        "dosing_session_at": entry.dosing_event.occurred_at if entry.dosing_event else None,
        "body": entry.body,
        "shared": entry.shared,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "shared_at": entry.shared_at,
    }


@router.get(
    "/entries", response={200: list[JournalEntryOut], 404: ErrorsOut}, summary="List my journal"
)
def entry_list(request):
    """The signed-in client's entries, newest first, private and shared. Anyone else: 404."""
    return [_entry_out(e) for e in selectors.entries_for_client(actor=request.actor)]


@router.get(
    "/dosing-sessions",
    response={200: list[DosingSessionOut], 404: ErrorsOut},
    summary="List my dosing sessions",
)
def dosing_sessions(request):
    """The signed-in client's dosing sessions, most recent first: the ids an entry can name
    as `dosing_event_id`."""
    client = selectors.own_client(actor=request.actor)
    return [
        {"id": e.pk, "course_id": e.course_id, "occurred_at": e.occurred_at}
        for e in selectors.dosing_sessions_for_client(client=client)
    ]


@router.post("/entries", response={201: JournalEntryOut, **ERRORS}, summary="Write a journal entry")
def entry_create(request, payload: JournalEntryIn):
    """The signed-in client writes an entry, private unless `shared` is true. 422 names the
    field at fault (an empty body, a dosing session that is not the client's)."""
    entry = services.entry_create(
        actor=request.actor, kind=payload.kind, body=payload.body, shared=payload.shared,
        dosing_event_id=payload.dosing_event_id,
    )  # fmt: skip
    return Status(201, _entry_out(entry))


@router.get(
    "/entries/{int:entry_id}",
    response={200: JournalEntryOut, 404: ErrorsOut},
    summary="Read my entry",
)
def entry_get(request, entry_id: int):
    """One of the signed-in client's own entries; anyone else's is 404."""
    return _entry_out(selectors.entry_get_for_client(actor=request.actor, entry_id=entry_id))


@router.put(
    "/entries/{int:entry_id}", response={200: JournalEntryOut, **ERRORS}, summary="Edit my entry"
)
def entry_update(request, entry_id: int, payload: JournalEntryIn):
    """Replace the entry's kind, text, dosing session and sharing. A shared entry stays
    shared when edited (`updated_at` changes); `shared` false hides it from staff again."""
    entry = services.entry_update(
        actor=request.actor, entry_id=entry_id, kind=payload.kind, body=payload.body,
        shared=payload.shared, dosing_event_id=payload.dosing_event_id,
    )  # fmt: skip
    return _entry_out(entry)


@router.delete(
    "/entries/{int:entry_id}", response={204: None, 404: ErrorsOut}, summary="Delete my entry"
)
def entry_delete(request, entry_id: int):
    """Delete one of the signed-in client's own entries for good."""
    services.entry_delete(actor=request.actor, entry_id=entry_id)
    return Status(204, None)


@router.get(
    "/courses/{int:course_id}/entries",
    response={200: list[SharedEntryOut], 404: ErrorsOut},
    summary="Shared entries of a course",
)
def course_entries(request, course_id: int):
    """The entries the client shared on this course, newest first. The client's practice's
    admins and its clinicians on the care team; anyone else (a partner prescriber, billers,
    other organisations) gets 404. Each call is audited."""
    actor = staff_actor(request)
    course = selectors.course_for_journal(actor=actor, course_id=course_id)
    return [
        _entry_out(e) | {"client_id": e.client_id}
        for e in selectors.shared_entries_for_course(actor=actor, course=course)
    ]
