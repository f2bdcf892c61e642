"""Read paths for the journal: the client's own entries and dosing sessions (portal), and the
entries a client shared, for the therapist's course view.

The client reaches only their own record (the Client whose user is the signed-in user, in the
organisation they act for). Shared entries go only to those kapflow.policy.can_read_shared_journal
allows; everyone else, a partner prescriber included, is told "not found".
"""

from kapflow import policy
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.core.errors import NotFound
from kapflow.courses.models import Course
from kapflow.journal.models import JournalEntry
from kapflow.patients.models import Client


def own_client(*, actor, probed=None) -> Client:
    """The signed-in client's own record, or NotFound for anyone else (companions, staff);
    when they asked for an entry by id (`probed`: model and id), a denied access is recorded
    for the organisation holding it."""
    if not policy.is_client_actor(actor):
        if probed is not None:
            raise audit_not_found(actor=actor, model=probed[0], object_id=probed[1])
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


def dosing_sessions_for_client(*, client: Client) -> list:
    """The client's dosing sessions on any of their courses, most recent first."""
    from kapflow.courses.models import CourseEvent, EventKind

    return list(
        CourseEvent.objects.for_org(client.organisation_id)
        .filter(course__client=client, kind=EventKind.DOSING)
        .order_by("-occurred_at", "-id")
    )


def entries_for_client(*, actor) -> list[JournalEntry]:
    """The signed-in client's entries, newest first (private and shared)."""
    client = own_client(actor=actor)
    return list(
        JournalEntry.objects.for_org(client.organisation_id)
        .filter(client=client)
        .select_related("dosing_event")
        .order_by("-created_at", "-id")
    )


def entry_get_for_client(*, actor, entry_id: int) -> JournalEntry:
    """One of the signed-in client's own entries; anyone else's is "not found"."""
    client = own_client(actor=actor, probed=(JournalEntry, entry_id))
    entry = (
        JournalEntry.objects.for_org(client.organisation_id)
        .filter(pk=entry_id, client=client)
        .select_related("dosing_event")
        .first()
    )
    if entry is None:
        raise audit_not_found(actor=actor, model=JournalEntry, object_id=entry_id)
    return entry


def course_for_journal(*, actor, course_id: int):
    """The course whose shared entries the actor may read, or NotFound."""
    course = policy.courses_queryset(actor).filter(pk=course_id).select_related("client").first()
    if course is None or not policy.can_read_shared_journal(actor, course):
        raise audit_not_found(
            actor=actor, model=Course, object_id=course_id, message="Course not found."
        )
    return course


def shared_entries_for_course(*, actor, course) -> list[JournalEntry]:
    """The entries the client shared on this course, newest first, for its therapist's view.

    Only the client's practice's admins and its clinicians on the care team (ask
    policy.can_read_shared_journal first to decide whether to show the panel); anyone else
    gets NotFound. The read is audited once per call (the course and the client).
    """
    if not policy.can_read_shared_journal(actor, course):
        raise NotFound()
    entries = list(
        JournalEntry.objects.for_org(course.organisation_id)
        .filter(course_id=course.pk, client_id=course.client_id, shared=True)
        .select_related("dosing_event")
        .order_by("-created_at", "-id")
    )
    audit_record(
        actor=actor, action="journal.read_shared", target=course, client_id=course.client_id
    )
    return entries
