"""Note factories: drafts and signed notes written through the services, and supervision.
Fictional text only."""

from kapflow.clinical.notes import note_template
from kapflow.notes import services
from kapflow.notes.models import Note, Supervision


def text_for(key: str) -> str:
    return f"Fictional {key} text."


def draft(client, author, *, session_type="dosing", fmt="soap", kind="progress", filled=True,
          **fields) -> Note:  # fmt: skip
    note = services.note_create(
        actor=author, client_id=client.pk, session_type=session_type, format=fmt, kind=kind,
        **fields,
    )  # fmt: skip
    if filled:
        template = note_template(session_type, fmt)
        note = services.note_autosave(
            actor=author, note_id=note.pk, version=note.version,
            sections={k: text_for(k) for k in template.keys},
        )  # fmt: skip
    return note


def signed(client, author, **kwargs) -> Note:
    note = draft(client, author, **kwargs)
    return services.note_sign(actor=author, note_id=note.pk, signature_name=author.user.full_name)


def supervise(supervisee, supervisor) -> Supervision:
    return Supervision.objects.create(
        organisation=supervisee.organisation, supervisee=supervisee, supervisor=supervisor,
        created_by=supervisor.user,
    )  # fmt: skip
