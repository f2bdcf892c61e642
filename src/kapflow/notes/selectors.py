"""Read paths for clinical notes: a client's notes, one note, the co-sign queue, the notes
of a records request. Every read starts from kapflow.policy.notes_queryset, so a note the
actor may not read is "not found"; reads of note content are audited.
"""

from django.db.models import F, Prefetch

from kapflow import policy
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.core.errors import NotFound
from kapflow.notes.models import Addendum, Note, NoteKind, NoteStatus, Supervision
from kapflow.patients.models import Client


def client_for_notes(*, actor, client_id: int) -> Client:
    """The client whose notes page the actor may open, care team prefetched, or NotFound."""
    client = (
        policy.clients_queryset(actor)
        .filter(pk=client_id)
        .select_related("organisation")
        .prefetch_related("care_team")
        .first()
    )
    if client is None or not policy.can_list_notes(actor, client):
        raise audit_not_found(
            actor=actor, model=Client, object_id=client_id, message="Client not found."
        )
    return client


def _with_people(queryset):
    return queryset.select_related("author__user", "signed_by", "cosigned_by__user", "appointment")


def note_list(*, actor, client: Client) -> list[Note]:
    """The notes of the client the actor may read, latest session first. One audit row."""
    notes = list(
        _with_people(policy.notes_queryset(actor).filter(client_id=client.pk)).order_by(
            "-session_date", "-id"
        )
    )
    audit_record(actor=actor, action="note.list", target=client, client_id=client.pk)
    return notes


def _addenda():
    return Prefetch(
        "addenda",
        queryset=Addendum.objects.select_related("author_user").order_by("created_at", "id"),
    )


def _amendments():
    # Decided requests to amend the note go wherever the note goes (HIPAA 164.526(c), (d)).
    from kapflow.amendments.selectors import note_amendments_prefetch

    return note_amendments_prefetch()


def note_get_for_actor(*, actor, note_id: int, audit: bool = True) -> Note:
    """One note the actor may read, with client, addenda and people, or NotFound. Audited as
    `note.view` (the content is PHI)."""
    note = (
        _with_people(policy.notes_queryset(actor).filter(pk=note_id))
        .select_related("client__organisation", "course")
        .prefetch_related(_addenda(), _amendments())
        .first()
    )
    if note is None:
        raise audit_not_found(actor=actor, model=Note, object_id=note_id, message="Note not found.")
    if audit:
        audit_record(actor=actor, action="note.view", target=note, client_id=note.client_id)
    return note


def cosign_queue(*, actor) -> list[Note]:
    """Signed notes of the actor's active supervisees still waiting for a co-signature,
    oldest first. The list shows clients' names, so each note listed is audited
    (`note.list`, one row per note, one INSERT). Billers, clients and companions: NotFound."""
    if not policy.can_see_clinical(actor):
        raise NotFound()
    supervisees = Supervision.objects.filter(supervisor=actor, ended_at__isnull=True).values(
        "supervisee_id"
    )
    notes = list(
        _with_people(
            policy.notes_queryset(actor).filter(
                author_id__in=supervisees,
                status=NoteStatus.SIGNED,
                cosign_required=True,
                cosigned_at__isnull=True,
            )
        )
        .select_related("client")
        .order_by("signed_at", "id")
    )
    audit_record_many(actor=actor, action="note.list", targets=notes, client_attr="client_id")
    return notes


def records_bundle_notes(*, actor, client: Client) -> list[Note]:
    """Every signed progress note of the client, oldest first, with addenda: what a records
    request (HIPAA 164.524) releases. Psychotherapy notes and drafts are never included,
    whoever asks. Not audited here: the view audits `note.export`, one row per note in one
    INSERT, each with the PDF's SHA-256, once the file exists (kapflow.audit.exports)."""
    if not policy.can_export_records(actor, client):
        raise NotFound("Client not found.")
    notes = list(
        _with_people(
            Note.objects.for_org(client.organisation_id).filter(
                client_id=client.pk, status=NoteStatus.SIGNED, kind=NoteKind.PROGRESS
            )
        )
        .prefetch_related(_addenda(), _amendments())
        .order_by("session_date", "id")
    )
    return notes


def supervision_list(*, actor) -> list[Supervision]:
    """The practice's supervision pairs, active first (admins)."""
    if not policy.can_manage_supervision(actor):
        raise NotFound()
    return list(
        Supervision.objects.for_org(actor.organisation)
        .select_related("supervisee__user", "supervisor__user")
        .order_by(F("ended_at").asc(nulls_first=True), "-started_at", "-id")
    )


def note_for_export(*, actor, note_id: int) -> Note:
    """A signed note the actor may read, for its PDF; a draft is refused (409). Not audited
    here: the view audits `note.export` (instead of `note.view`) with the PDF's SHA-256."""
    from kapflow.core.errors import DomainError

    note = note_get_for_actor(actor=actor, note_id=note_id, audit=False)
    if note.status != NoteStatus.SIGNED:
        raise DomainError("Only signed notes can be exported.", code="note.draft")
    return note


def practice_clinicians(*, actor) -> list:
    """Active therapists and prescribers of the admin's practice, for the supervision form."""
    from kapflow.accounts.models import Membership, Role

    if not policy.can_manage_supervision(actor):
        raise NotFound()
    return list(
        Membership.objects.filter(
            organisation_id=actor.organisation_id,
            is_active=True,
            roles__role__in=[Role.THERAPIST, Role.PRESCRIBER],
        )
        .select_related("user")
        .distinct()
        .order_by("user__full_name", "pk")
    )


def is_supervised(*, membership) -> bool:
    """Does this clinician have an active supervisor (their notes need a co-signature)?"""
    return Supervision.objects.filter(supervisee=membership, ended_at__isnull=True).exists()


def content_intact(note: Note) -> bool | None:
    """For a signed note: does the stored content still hash to the digest taken at signing?
    None for a draft. (The PostgreSQL trigger refuses changes; this shows it on the page.)"""
    from kapflow.clinical.notes import content_digest

    if note.status != NoteStatus.SIGNED:
        return None
    digest = content_digest(
        session_type=note.session_type, fmt=note.format, kind=note.kind,
        sections=note.sections, signed_by=note.signature_name,
    )  # fmt: skip
    return digest == note.content_sha256
