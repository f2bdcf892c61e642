"""Note write paths: create a draft from a template (a dosing note pre-filled from its
session's record, `dosing_note_draft`), autosave it, sign it, delete a draft, add an
addendum, co-sign, and manage who supervises whom.

Each function locks what can race (the note row; the client row when creating), asks
kapflow.policy whether the actor may, asks kapflow.clinical.notes what is missing, calls
full_clean and writes the audit row in the same transaction. The audit trail records the
action, the note id and the changed field names, never the text. Signed notes and addenda
never change here; on PostgreSQL a trigger refuses it as well (migration 0002).
"""

import logging
from collections.abc import Mapping
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership, Role
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import notes as rules
from kapflow.core import clock
from kapflow.core.bounds import DateKind, check_date, start_of
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.notes.models import (
    ADDENDUM_MAX,
    Addendum,
    Note,
    NoteFormat,
    NoteKind,
    NoteStatus,
    SessionType,
    Supervision,
)

logger = logging.getLogger(__name__)


def _client_for_write(actor, client_id: int):
    from kapflow.patients.models import Client

    client = (
        policy.clients_queryset(actor).select_for_update(of=("self",)).filter(pk=client_id).first()
    )
    if client is None:
        raise audit_not_found(
            actor=actor, model=Client, object_id=client_id, message="Client not found."
        )
    # The care team, for the policy question (a second query; the lock is on the client).
    return Client.objects.prefetch_related("care_team").get(pk=client.pk)


def _course(client, course_id):
    if course_id is None:
        return None
    from kapflow.courses.models import Course

    course = Course.objects.for_org(client.organisation_id).filter(pk=course_id, client=client)
    course = course.first()
    if course is None:
        raise ValidationError({"course": "Choose one of this client's courses."})
    return course


def _appointment(client, appointment_id):
    if appointment_id is None:
        return None
    from django.db.models import Q

    from kapflow.scheduling.models import Appointment

    appointment = (
        Appointment.objects.for_org(client.organisation_id)
        .filter(pk=appointment_id)
        .filter(Q(course__client=client) | Q(participants__client=client))
        .first()
    )
    if appointment is None:
        raise ValidationError({"appointment": "Choose one of this client's appointments."})
    return appointment


def _clean_sections(template, sections) -> dict[str, str]:
    """Only the template's keys, as text, within the length limit."""
    if not isinstance(sections, Mapping):
        raise ValidationError({"sections": "Send the sections as {section: text}."})
    unknown = sorted(set(sections) - set(template.keys))
    if unknown:
        raise ValidationError(
            {"sections": f"This template has no section named {', '.join(map(str, unknown))}."}
        )
    cleaned = {}
    for key in template.keys:
        value = sections.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError({key: "Write this section as text."})
        if len(value) > rules.SECTION_MAX:
            raise ValidationError({key: f"Keep a section under {rules.SECTION_MAX:,} characters."})
        if "\x00" in value:
            # PostgreSQL cannot store a NUL character in text.
            raise ValidationError({key: "The text contains a character that cannot be saved."})
        cleaned[key] = value
    return cleaned


@transaction.atomic
def note_create(
    *,
    actor: Membership,
    client_id: int,
    session_type: str,
    format: str = NoteFormat.SOAP,
    kind: str = NoteKind.PROGRESS,
    course_id: int | None = None,
    appointment_id: int | None = None,
    dosing_session_id: int | None = None,
    session_date: date | None = None,
    now: datetime | None = None,
) -> Note:
    """A new draft from the template of `session_type` and `format`, by the actor. A dosing
    note given its closed `dosing_session_id` starts from what the session recorded
    (`dosing_note_draft`); the clinician edits it and signs."""
    now = now or timezone.now()
    client = _client_for_write(actor, client_id)
    errors = {}
    if session_type not in SessionType.values:
        errors["session_type"] = "Choose the kind of session."
    if format not in NoteFormat.values:
        errors["format"] = "Choose DAP or SOAP."
    if kind not in NoteKind.values:
        errors["kind"] = "Choose a progress note or a psychotherapy note."
    if errors:
        raise ValidationError(errors)
    if not policy.can_write_note(actor, client, session_type, kind):
        if not policy.can_list_notes(actor, client):
            raise audit_not_found(
                actor=actor, model=type(client), object_id=client.pk, message="Client not found."
            )
        raise PermissionDenied(
            "You may not write this kind of note for this client.", code="note.not_allowed"
        )
    course = _course(client, course_id)
    appointment = _appointment(client, appointment_id)
    session = _dosing_session(client, dosing_session_id, session_type)
    if session is not None:
        course = course or session.course
        appointment = appointment or session.appointment
    if course is None and appointment is not None and appointment.course_id:
        course = appointment.course
    if session_date is None:
        # The practice's day of the appointment, else of now (decision 0027): a 9 pm Pacific
        # session is not "tomorrow".
        at = appointment.starts_at if appointment is not None else now
        session_date = clock.clinical_date(client.organisation, at)
    # A note documents a session the practice held: not after today, not before the client
    # was born, not before the practice's record of them began. The record began with the
    # earliest thing the chart holds for this note: the chart's creation, or its course's
    # opening or its appointment's start if earlier (a course or a booking brought over from
    # before the chart). The course alone is no bound: an intake note may precede it.
    began = min(
        [client.created_at]
        + ([course.opened_at] if course is not None else [])
        + ([appointment.starts_at] if appointment is not None else [])
    )
    check_date(
        "session_date", session_date, organisation=client.organisation,
        kind=DateKind.HAPPENED, born=client.date_of_birth, now=now,
        starts=(start_of(client.organisation, began, "the client's record began"),),
    )  # fmt: skip
    template = rules.note_template(session_type, format)
    note = Note(
        organisation_id=client.organisation_id, client=client, course=course,
        appointment=appointment, session_type=session_type, format=format, kind=kind,
        session_date=session_date, author=actor,
        sections={**dict.fromkeys(template.keys, ""),
                  **(dosing_note_draft(session=session, format=format) if session else {})},
        author_user_id=actor.user_id, created_at=now, updated_at=now,
    )  # fmt: skip
    note.full_clean()
    note.save()
    audit_record(
        actor=actor, action="note.create", target=note, client_id=client.pk,
        **({"changed_fields": [f"drafted_from.dosing_session.{session.pk}"]} if session else {}),
    )  # fmt: skip
    logger.info("note.created", extra={"note_id": note.pk})
    return note


def _dosing_session(client, session_id, session_type):
    """The client's closed dosing session the note documents, or a field error."""
    if session_id is None:
        return None
    from kapflow.encounters.models import DosingSession, SessionState

    if session_type != SessionType.DOSING:
        raise ValidationError({"session_type": "Only a dosing note is drafted from a session."})
    session = (
        DosingSession.objects.for_org(client.organisation_id)
        .filter(pk=session_id, client=client)
        .select_related("course", "appointment", "ended_by", "discharge", "organisation")
        .first()
    )
    if session is None:
        raise ValidationError({"session": "Choose one of this client's dosing sessions."})
    if session.state not in (SessionState.DISCHARGED, SessionState.ABANDONED):
        raise ValidationError(
            {"session": "The session is still open: discharge it before drafting its note."}
        )
    return session


def _mg(value) -> str:
    from decimal import Decimal, InvalidOperation

    try:
        return format(Decimal(str(value)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(value)


def _vitals_text(data: Mapping) -> str:
    parts = []
    if data.get("bp_systolic") and data.get("bp_diastolic"):
        parts.append(f"BP {data['bp_systolic']}/{data['bp_diastolic']}")
    if data.get("heart_rate"):
        parts.append(f"HR {data['heart_rate']}")
    if data.get("spo2"):
        parts.append(f"SpO2 {data['spo2']}%")
    return ", ".join(parts) or "recorded"


def dosing_note_draft(*, session, format: str) -> dict[str, str]:
    """The sections of a dosing note as the session recorded them: the day's confirmations
    (subjective), dose, vitals with any flagged reading and its rule, events, interventions
    and observations (objective), the integration appointment booked after it (plan) and
    the discharge. The assessment is left to the clinician. Struck or corrected entries are
    left out: the correction stands in their place. Times are the practice's (decision
    0027). Text only: the clinician edits every word before signing."""
    from kapflow.encounters.models import EntryKind, EventType, Route
    from kapflow.scheduling.models import LIVE_STATUSES, Appointment

    zone = clock.clinical_zone(session.organisation)

    def at(moment) -> str:
        return moment.astimezone(zone).strftime("%H:%M")

    entries = list(
        session.entries.filter(struck=False, corrected_by__isnull=True).order_by(
            "occurred_at", "id"
        )
    )
    day = session.start_day or {}
    said = []
    if day.get("alcohol_free_24h"):
        said.append("no alcohol in the last 24 hours")
    if day.get("driver_confirmed"):
        said.append("a driver confirmed to take the client home")
    if day.get("companion_present"):
        said.append("the companion present for the session at home")
    subjective = f"Pre-session confirmations: {'; '.join(said)}." if said else ""
    lines = []
    if day.get("bp_systolic") and day.get("bp_diastolic"):
        started = f" (start {at(session.started_at)})" if session.started_at else ""
        lines.append(f"Pre-dose BP {day['bp_systolic']}/{day['bp_diastolic']}{started}.")
    for e in entries:
        d = e.data or {}
        if e.kind == EntryKind.DOSE:
            route = Route(d["route"]).label if d.get("route") in Route.values else d.get("route")
            what = "Booster" if d.get("booster") else "Dose"
            lines.append(
                f"{at(e.occurred_at)} {what}: {_mg(d.get('amount', ''))} {d.get('unit', 'mg')}"
                f"{f', {route}' if route else ''}."
            )
        elif e.kind == EntryKind.VITALS:
            flagged = "; ".join(f"{f.get('message', '')} (rule: {f.get('rule', '')})"
                                for f in (e.flags or []))  # fmt: skip
            lines.append(
                f"{at(e.occurred_at)} Vitals: {_vitals_text(d)}"
                + (f" — flagged: {flagged}" if flagged else "")
                + "."
            )
        elif e.kind == EntryKind.EVENT:
            kind = (
                EventType(d["type"]).label if d.get("type") in EventType.values else d.get("type")
            )
            lines.append(
                f"{at(e.occurred_at)} Event: {kind or 'unspecified'}"
                + (f"; intervention: {d['intervention']}" if d.get("intervention") else "")
                + "."
            )
        else:
            label = EntryKind(e.kind).label
            lines.append(f"{at(e.occurred_at)} {label}: {d.get('text', '').strip()}")
    objective = "\n".join(lines)
    plan = ""
    if session.appointment_id:
        following = (
            Appointment.objects.filter(follows_id=session.appointment_id)
            .filter(status__in=LIVE_STATUSES)
            .order_by("starts_at")
            .first()
        )
        if following is not None:
            local = following.starts_at.astimezone(zone)
            plan = (
                f"Next: {following.get_kind_display().lower()} booked for "
                f"{local.strftime('%a %-d %b %Y, %H:%M')}."
            )
    discharge = ""
    record = getattr(session, "discharge", None) if session.state == "discharged" else None
    if record is not None:
        escort = "companion present" if session.at_home else "driver present"
        discharge = (
            f"Discharged at {at(session.ended_at)} by {session.ended_by} after "
            f"{record.observation_minutes} min of observation: alert and oriented, walking "
            f"steadily, {escort}, vitals within range."
            + (f"\n{record.note.strip()}" if record.note.strip() else "")
        )
    elif session.abandon_reason:
        discharge = f"Ended without discharge at {at(session.ended_at)}: {session.abandon_reason}"
    draft = {"assessment": "", "plan": plan, "discharge": discharge}
    if format == NoteFormat.DAP:
        draft["data"] = "\n".join(p for p in (subjective, objective) if p)
    else:
        draft["subjective"] = subjective
        draft["objective"] = objective
    return draft


def _locked(actor, note_id: int) -> Note:
    """The note, locked, if the actor may read it; else NotFound."""
    note = (
        policy.notes_queryset(actor)
        .select_for_update(of=("self",))
        .filter(pk=note_id)
        .select_related("author__user", "client")
        .first()
    )
    if note is None:
        raise audit_not_found(actor=actor, model=Note, object_id=note_id, message="Note not found.")
    return note


def _refuse_unless_draft_author(actor, note: Note) -> None:
    if note.status == NoteStatus.SIGNED:
        raise DomainError(
            "This note is signed and cannot change. Add an addendum instead.", code="note.signed"
        )
    if not policy.can_edit_note(actor, note):
        raise PermissionDenied("Only the author can change a draft.", code="note.not_author")


@transaction.atomic
def note_autosave(
    *,
    actor: Membership,
    note_id: int,
    version: int,
    sections: Mapping[str, str],
    now: datetime | None = None,
) -> Note:
    """Save the draft's sections if `version` is the current one (optimistic concurrency):
    a save made against an older version is refused with `note.stale` and changes nothing,
    so two open editors never overwrite each other silently."""
    now = now or timezone.now()
    note = _locked(actor, note_id)
    _refuse_unless_draft_author(actor, note)
    template = rules.note_template(note.session_type, note.format)
    cleaned = _clean_sections(template, sections)
    merged = {**note.sections, **{k: v for k, v in cleaned.items() if k in sections}}
    changed = sorted(k for k in template.keys if merged.get(k, "") != note.sections.get(k, ""))
    if not changed:
        # Nothing to write, whatever the version: the same text is already saved (the
        # editor's autosave on leaving a field races the Sign button's own save).
        return note
    if version != note.version:
        raise DomainError(
            "This note was saved elsewhere (another tab or device) since you opened it. "
            "Your text was not saved: copy it, reload the note and merge your changes.",
            code="note.stale",
            field="version",
        )
    note.sections = merged
    note.version += 1
    note.updated_at = now
    note.full_clean()
    note.save(update_fields=["sections", "version", "updated_at"])
    audit_record(
        actor=actor, action="note.update", target=note, client_id=note.client_id,
        changed_fields=[f"sections.{k}" for k in changed],
    )  # fmt: skip
    return note


@transaction.atomic
def note_sign(
    *,
    actor: Membership,
    note_id: int,
    signature_name: str,
    version: int | None = None,
    now: datetime | None = None,
) -> Note:
    """The author signs: every required section filled and the typed name is the author's
    full name. The note is locked from then on; if the author is under supervision, it
    waits for the supervisor's co-signature before it is final."""
    now = now or timezone.now()
    note = _locked(actor, note_id)
    _refuse_unless_draft_author(actor, note)
    if version is not None and version != note.version:
        raise DomainError(
            "This note changed since you opened it. Reload it and sign again.",
            code="note.stale",
            field="version",
        )
    template = rules.note_template(note.session_type, note.format)
    missing = rules.missing_sections(template, note.sections)
    errors = {s.key: f"{s.label} is required before signing." for s in missing}
    signature_name = signature_name if isinstance(signature_name, str) else ""
    if not rules.signature_matches(signature_name, actor.user.full_name):
        errors["signature_name"] = (
            "Type your full name exactly as it appears on your account to sign."
            if actor.user.full_name
            else "Add your full name to your account before signing notes."
        )
    if errors:
        raise ValidationError(errors)
    signature_name = " ".join(signature_name.split())
    note.status = NoteStatus.SIGNED
    note.signed_at = now
    note.signed_by_id = actor.user_id
    note.signature_name = signature_name
    note.content_sha256 = rules.content_digest(
        session_type=note.session_type, fmt=note.format, kind=note.kind,
        sections=note.sections, signed_by=signature_name,
    )  # fmt: skip
    note.cosign_required = Supervision.objects.filter(
        supervisee=actor, ended_at__isnull=True
    ).exists()
    note.updated_at = now
    note.version += 1
    note.full_clean()
    note.save()
    audit_record(actor=actor, action="note.sign", target=note, client_id=note.client_id)
    logger.info("note.signed", extra={"note_id": note.pk, "cosign": note.cosign_required})
    return note


@transaction.atomic
def note_delete(*, actor: Membership, note_id: int) -> None:
    """The author deletes a draft for good. A signed note is never deleted."""
    note = _locked(actor, note_id)
    _refuse_unless_draft_author(actor, note)
    audit_record(actor=actor, action="note.delete", target=note, client_id=note.client_id)
    note.delete()
    logger.info("note.deleted", extra={"note_id": note_id})


@transaction.atomic
def addendum_add(
    *, actor: Membership, note_id: int, text: str, now: datetime | None = None
) -> Addendum:
    """A dated, attributed addition to a signed note (see policy.can_add_addendum)."""
    now = now or timezone.now()
    note = _locked(actor, note_id)
    if note.status != NoteStatus.SIGNED:
        raise DomainError(
            "A draft can still be edited: addenda are for signed notes.", code="note.draft"
        )
    if not policy.can_add_addendum(actor, note):
        raise PermissionDenied(
            "Only the author or a clinician on the client's care team can add an addendum.",
            code="note.not_allowed",
        )
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise ValidationError({"text": "Write the addendum before saving."})
    if len(text) > ADDENDUM_MAX:
        raise ValidationError({"text": f"Keep an addendum under {ADDENDUM_MAX:,} characters."})
    if "\x00" in text:
        raise ValidationError({"text": "The text contains a character that cannot be saved."})
    addendum = Addendum(
        organisation_id=note.organisation_id, note=note, author=actor,
        author_user_id=actor.user_id, text=text, created_at=now,
    )  # fmt: skip
    addendum.full_clean()
    addendum.save()
    audit_record(actor=actor, action="note.addendum", target=note, client_id=note.client_id)
    return addendum


@transaction.atomic
def note_cosign(
    *, actor: Membership, note_id: int, signature_name: str, now: datetime | None = None
) -> Note:
    """The author's supervisor co-signs a signed note once; it is final from then on."""
    now = now or timezone.now()
    note = _locked(actor, note_id)
    if note.status != NoteStatus.SIGNED:
        raise DomainError("The author has not signed this note yet.", code="note.draft")
    if not note.cosign_required:
        raise DomainError("This note does not need a co-signature.", code="note.no_cosign")
    if note.cosigned_at is not None:
        raise DomainError("This note is already co-signed.", code="note.cosigned")
    if not policy.can_cosign_note(actor, note):
        raise PermissionDenied(
            "Only the author's supervisor can co-sign this note.", code="note.not_supervisor"
        )
    signature_name = signature_name if isinstance(signature_name, str) else ""
    if not rules.signature_matches(signature_name, actor.user.full_name):
        raise ValidationError(
            {"signature_name": "Type your full name exactly as it appears on your account."}
        )
    note.cosigned_at = now
    note.cosigned_by = actor
    note.cosign_name = " ".join(signature_name.split())
    note.full_clean()
    # Only the co-sign columns: the trigger allows nothing else on a signed note.
    note.save(update_fields=["cosigned_at", "cosigned_by", "cosign_name"])
    audit_record(actor=actor, action="note.cosign", target=note, client_id=note.client_id)
    return note


# ---- supervision (practice admins) ----------------------------------------------------------


def _clinician(actor, membership_id, field: str) -> Membership:
    membership = (
        Membership.objects.filter(
            pk=membership_id,
            organisation_id=actor.organisation_id,
            is_active=True,
            roles__role__in=[Role.THERAPIST, Role.PRESCRIBER],
        )
        .select_related("user")
        .first()
    )
    if membership is None:
        raise ValidationError({field: "Choose an active clinician of this practice."})
    return membership


@transaction.atomic
def supervision_start(
    *, actor: Membership, supervisee_id: int, supervisor_id: int, now: datetime | None = None
) -> Supervision:
    """Record that a clinician is supervised: their notes need the supervisor's co-signature
    from the next signing on. One active supervisor per clinician."""
    now = now or timezone.now()
    if not policy.can_manage_supervision(actor):
        raise NotFound()
    supervisee = _clinician(actor, supervisee_id, "supervisee")
    supervisor = _clinician(actor, supervisor_id, "supervisor")
    if supervisee.pk == supervisor.pk:
        raise ValidationError({"supervisor": "A clinician cannot supervise themself."})
    # Lock the supervisee so two admins cannot both start a supervision for them.
    Membership.objects.select_for_update().filter(pk=supervisee.pk).first()
    if Supervision.objects.filter(supervisee=supervisee, ended_at__isnull=True).exists():
        raise ValidationError(
            {"supervisee": "This clinician already has a supervisor. End that first."}
        )
    supervision = Supervision(
        organisation_id=actor.organisation_id, supervisee=supervisee, supervisor=supervisor,
        started_at=now, created_by_id=actor.user_id,
    )  # fmt: skip
    supervision.full_clean()
    supervision.save()
    audit_record(actor=actor, action="supervision.start", target=supervision)
    return supervision


@transaction.atomic
def supervision_end(
    *, actor: Membership, supervision_id: int, now: datetime | None = None
) -> Supervision:
    """End a supervision. Notes signed while it was active still need their co-signature;
    the clinician's next active supervisor gives it (policy.can_cosign_note)."""
    now = now or timezone.now()
    if not policy.can_manage_supervision(actor):
        raise NotFound()
    supervision = (
        Supervision.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(pk=supervision_id)
        .first()
    )
    if supervision is None:
        raise audit_not_found(actor=actor, model=Supervision, object_id=supervision_id)
    if supervision.ended_at is not None:
        raise DomainError("This supervision has already ended.", code="supervision.ended")
    supervision.ended_at = now
    supervision.full_clean()
    supervision.save(update_fields=["ended_at"])
    audit_record(actor=actor, action="supervision.end", target=supervision)
    return supervision
