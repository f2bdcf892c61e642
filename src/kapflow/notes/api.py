"""Clinical notes over JSON: templates, a client's notes, one note, create, autosave (PUT
with the version), sign, addenda, co-sign, delete a draft, and the co-sign queue.

Same selectors, services and rules as the pages. Anyone who may not read a note (billers,
clients, companions, other organisations, a partner prescriber for therapy notes, anyone
but the author and supervisor for a psychotherapy note) gets 404. A stale autosave is 409
`note.stale`; changing a signed note is 409 `note.signed`; a section or signature at fault
is 422 naming it (`sections.<key>`, `signature_name`).
"""

from datetime import date, datetime
from functools import wraps
from typing import Literal

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status
from pydantic import Field

from kapflow.clinical.notes import SECTION_MAX, TEMPLATES
from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor
from kapflow.notes import selectors, services
from kapflow.notes.models import NoteFormat, NoteKind, SessionType

router = Router(tags=["notes"])

SessionTypeName = Literal[tuple(SessionType.values)]  # type: ignore[valid-type]
FormatName = Literal[tuple(NoteFormat.values)]  # type: ignore[valid-type]
KindName = Literal[tuple(NoteKind.values)]  # type: ignore[valid-type]

_NOT_SECTIONS = {"session_type", "format", "kind", "course", "appointment", "session_date",
                 "signature_name", "text", "version", "sections", "__all__"}  # fmt: skip


def _section_fields(view):
    """Name a section at fault as `sections.<key>` in a 422."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise
            raise ValidationError(
                {(k if k in _NOT_SECTIONS else f"sections.{k}"): v
                 for k, v in exc.error_dict.items()}
            ) from exc  # fmt: skip

    return wrapper


class SectionOut(Schema):
    key: str
    label: str
    prompt: str
    required: bool


class TemplateOut(Schema):
    session_type: SessionTypeName
    format: FormatName
    title: str
    sections: list[SectionOut]


class NoteIn(Schema):
    client_id: int = Field(ge=1, le=MAX_ID)
    session_type: SessionTypeName
    format: FormatName = "soap"
    kind: KindName = Field(
        "progress", description="psychotherapy: kept apart (HIPAA 164.501), author-only."
    )
    course_id: int | None = Field(None, ge=1, le=MAX_ID)
    appointment_id: int | None = Field(None, ge=1, le=MAX_ID)
    session_date: date | None = Field(None, description="Defaults to the appointment's day.")


class AutosaveIn(Schema):
    version: int = Field(ge=1, le=MAX_ID, description="The version the edit was made against.")
    # Lengths are checked by the service so that a 422 names the section.
    sections: dict[str, str | None] = Field(
        description=f"{{section key: text}}; keys left out keep their text. "
        f"At most {SECTION_MAX:,} characters each."
    )


class NoteSignIn(Schema):
    signature_name: str = Field(description="The author's full name, typed.")
    version: int | None = Field(None, ge=1, le=MAX_ID)


class CosignIn(Schema):
    signature_name: str = Field(description="The supervisor's full name, typed.")


class AddendumIn(Schema):
    text: str


class AddendumOut(Schema):
    id: int
    author_id: int
    author_name: str
    text: str
    created_at: datetime


class NoteSummaryOut(Schema):
    id: int
    client_id: int
    course_id: int | None
    appointment_id: int | None
    session_type: SessionTypeName
    format: FormatName
    kind: KindName
    session_date: date
    status: Literal["draft", "signed"]
    final: bool
    author_id: int
    author_name: str
    version: int
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    cosign_required: bool
    cosigned_at: datetime | None


class NoteOut(NoteSummaryOut):
    sections: dict[str, str]
    signature_name: str
    content_sha256: str
    cosigned_by_id: int | None
    cosign_name: str
    addenda: list[AddendumOut]


def _summary(note) -> dict:
    return {
        "id": note.pk, "client_id": note.client_id, "course_id": note.course_id,
        "appointment_id": note.appointment_id, "session_type": note.session_type,
        "format": note.format, "kind": note.kind, "session_date": note.session_date,
        "status": note.status, "final": note.is_final, "author_id": note.author_id,
        "author_name": note.author.user.full_name, "version": note.version,
        "created_at": note.created_at, "updated_at": note.updated_at,
        "signed_at": note.signed_at, "cosign_required": note.cosign_required,
        "cosigned_at": note.cosigned_at,
    }  # fmt: skip


def _full(note) -> dict:
    return _summary(note) | {
        "sections": note.sections,
        "signature_name": note.signature_name,
        "content_sha256": note.content_sha256,
        "cosigned_by_id": note.cosigned_by_id,
        "cosign_name": note.cosign_name,
        "addenda": [
            {
                "id": a.pk,
                "author_id": a.author_id,
                "author_name": a.author_user.full_name,
                "text": a.text,
                "created_at": a.created_at,
            }
            for a in note.addenda.all()
        ],
    }


def _reloaded(actor, note_id: int) -> dict:
    return _full(selectors.note_get_for_actor(actor=actor, note_id=note_id, audit=False))


@router.get("/templates", response={200: list[TemplateOut], 404: ErrorsOut}, summary="Templates")
def templates(request):
    """Every note template: session type x format, sections in order with their prompts and
    whether signing requires them."""
    staff_actor(request)
    return [
        {
            "session_type": t.session_type,
            "format": t.format,
            "title": t.title,
            "sections": [s.__dict__ for s in t.sections],
        }
        for t in TEMPLATES.values()
    ]


@router.get(
    "/clients/{int:client_id}",
    response={200: list[NoteSummaryOut], 404: ErrorsOut},
    summary="A client's notes",
)
def client_notes(request, client_id: int):
    """The notes of the client the actor may read (metadata, no content), latest first."""
    actor = staff_actor(request)
    client = selectors.client_for_notes(actor=actor, client_id=client_id)
    return [_summary(n) for n in selectors.note_list(actor=actor, client=client)]


@router.get("/cosign-queue", response={200: list[NoteSummaryOut], 404: ErrorsOut})
def cosign_queue(request):
    """Signed notes of the actor's supervisees waiting for the actor's co-signature."""
    actor = staff_actor(request)
    return [_summary(n) for n in selectors.cosign_queue(actor=actor)]


@router.post("", response={201: NoteOut, **ERRORS}, summary="Start a draft note")
@_section_fields
def note_create(request, payload: NoteIn):
    """A draft from the template of `session_type` and `format`, by the acting clinician."""
    actor = staff_actor(request)
    note = services.note_create(
        actor=actor, client_id=payload.client_id, session_type=payload.session_type,
        format=payload.format, kind=payload.kind, course_id=payload.course_id,
        appointment_id=payload.appointment_id, session_date=payload.session_date,
    )  # fmt: skip
    return Status(201, _reloaded(actor, note.pk))


@router.get("/{int:note_id}", response={200: NoteOut, 404: ErrorsOut}, summary="Read a note")
def note_get(request, note_id: int):
    """One note with its sections and addenda (audited)."""
    actor = staff_actor(request)
    return _full(selectors.note_get_for_actor(actor=actor, note_id=note_id))


@router.put("/{int:note_id}", response={200: NoteOut, **ERRORS}, summary="Autosave a draft")
@_section_fields
def note_autosave(request, note_id: int, payload: AutosaveIn):
    """Save the draft's sections against `version`. 409 `note.stale` if it changed since
    (nothing saved); 409 `note.signed` once signed; 403 for anyone but the author."""
    actor = staff_actor(request)
    sections = {k: v or "" for k, v in payload.sections.items()}
    services.note_autosave(actor=actor, note_id=note_id, version=payload.version, sections=sections)
    return _reloaded(actor, note_id)


@router.delete("/{int:note_id}", response={204: None, **ERRORS}, summary="Delete a draft")
def note_delete(request, note_id: int):
    services.note_delete(actor=staff_actor(request), note_id=note_id)
    return Status(204, None)


@router.post("/{int:note_id}/sign", response={200: NoteOut, **ERRORS}, summary="Sign a note")
@_section_fields
def note_sign(request, note_id: int, payload: NoteSignIn):
    """The author signs: required sections filled, typed name matching. Locks the note."""
    actor = staff_actor(request)
    services.note_sign(
        actor=actor, note_id=note_id, signature_name=payload.signature_name,
        version=payload.version,
    )  # fmt: skip
    return _reloaded(actor, note_id)


@router.post("/{int:note_id}/addenda", response={201: NoteOut, **ERRORS}, summary="Add an addendum")
def note_addendum(request, note_id: int, payload: AddendumIn):
    """A dated addendum to a signed note (author, or a clinician on the care team for a
    progress note)."""
    actor = staff_actor(request)
    services.addendum_add(actor=actor, note_id=note_id, text=payload.text)
    return Status(201, _reloaded(actor, note_id))


@router.post("/{int:note_id}/cosign", response={200: NoteOut, **ERRORS}, summary="Co-sign")
def note_cosign(request, note_id: int, payload: CosignIn):
    """The author's supervisor co-signs once."""
    actor = staff_actor(request)
    services.note_cosign(actor=actor, note_id=note_id, signature_name=payload.signature_name)
    return _reloaded(actor, note_id)
