"""Note services: drafts from templates, autosave with optimistic concurrency, signing and
locking, addenda, co-signing by the supervisor, deleting drafts, supervision, who may read
what (policy.notes_queryset), the PostgreSQL triggers, and nothing half-saved on errors."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.notes import services
from kapflow.notes.models import Addendum, Note, Supervision
from tests.accounts.factories import member
from tests.courses.factories import make_course
from tests.notes.factories import draft, signed, supervise, text_for
from tests.patients.factories import on_team


def sign(note, actor, name=None):
    return services.note_sign(
        actor=actor, note_id=note.pk, signature_name=name or actor.user.full_name
    )


# ---- create ---------------------------------------------------------------------------------


def test_a_draft_starts_from_the_template_with_every_section_empty(world):
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="dosing", format="soap"
    )
    assert note.status == "draft" and note.version == 1 and note.kind == "progress"
    assert list(note.sections) == ["subjective", "objective", "assessment", "plan", "discharge"]
    assert set(note.sections.values()) == {""}
    assert (note.organisation, note.author, note.author_user) == (
        world.practice, world.therapist, world.therapist.user
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="note.create", target_id=note.pk).exists()


def test_a_draft_links_the_course_and_takes_it_from_the_appointment(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber)
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="integration",
        format="dap", course_id=course.pk,
    )  # fmt: skip
    assert note.course == course and note.session_date == clock.clinical_date(world.practice)


def test_another_clients_course_is_refused_naming_the_field(world):
    course = make_course(world.unreferred, world.therapist)
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=world.client.pk, session_type="dosing",
            course_id=course.pk,
        )  # fmt: skip
    assert "course" in exc.value.message_dict
    assert not Note.objects.exists()


def test_an_unknown_session_type_or_format_is_refused_by_field(world):
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=world.client.pk, session_type="x", format="y",
            kind="z",
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"session_type", "format", "kind"}


@pytest.mark.parametrize(
    ("who", "session_type", "kind", "outcome"),
    [
        ("therapist", "therapy", "progress", "ok"),
        ("therapist", "therapy", "psychotherapy", "ok"),
        ("prescriber", "dosing", "progress", "ok"),
        ("prescriber", "followup", "progress", "ok"),
        ("prescriber", "integration", "progress", PermissionDenied),
        ("prescriber", "dosing", "psychotherapy", PermissionDenied),
        ("admin", "dosing", "progress", PermissionDenied),
        ("therapist2", "dosing", "progress", NotFound),
        ("biller", "dosing", "progress", NotFound),
        ("other_therapist", "dosing", "progress", NotFound),
        ("other_admin", "dosing", "progress", NotFound),
        ("client_member", "dosing", "progress", NotFound),
        ("companion", "dosing", "progress", NotFound),
    ],
)
def test_who_may_write_a_note(world, who, session_type, kind, outcome):
    actor = getattr(world, who)
    call = {"actor": actor, "client_id": world.client.pk, "session_type": session_type,
            "kind": kind}  # fmt: skip
    if outcome == "ok":
        assert services.note_create(**call).author == actor
    else:
        with pytest.raises(outcome):
            services.note_create(**call)
        assert not Note.objects.exists()


# ---- autosave -------------------------------------------------------------------------------


def test_autosave_saves_the_sections_and_bumps_the_version(world):
    note = draft(world.client, world.therapist, filled=False)
    saved = services.note_autosave(
        actor=world.therapist, note_id=note.pk, version=1, sections={"plan": "See Friday."}
    )
    assert saved.version == 2 and saved.sections["plan"] == "See Friday."
    assert saved.sections["subjective"] == ""
    event = AuditEvent.objects.get(action="note.update", target_id=note.pk)
    assert event.changed_fields == ["sections.plan"]  # names, never the text


def test_autosave_without_changes_does_not_bump_the_version(world):
    note = draft(world.client, world.therapist)
    again = services.note_autosave(
        actor=world.therapist, note_id=note.pk, version=note.version, sections=note.sections
    )
    assert again.version == note.version


def test_a_stale_autosave_is_refused_and_overwrites_nothing(world):
    note = draft(world.client, world.therapist, filled=False)
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                           sections={"plan": "From tab one."})  # fmt: skip
    with pytest.raises(DomainError) as exc:
        services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                               sections={"plan": "From tab two."})  # fmt: skip
    assert exc.value.code == "note.stale" and "saved elsewhere" in exc.value.message
    note.refresh_from_db()
    assert note.sections["plan"] == "From tab one." and note.version == 2


def test_a_stale_save_of_the_text_already_saved_is_not_a_conflict(world):
    # The editor's autosave (on leaving a field) and the Sign button's save race with the
    # same text: the second, on the old version, changes nothing and is not refused.
    note = draft(world.client, world.therapist, filled=False)
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                           sections={"plan": "Same text."})  # fmt: skip
    again = services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                                   sections={"plan": "Same text."})  # fmt: skip
    assert again.version == 2 and again.sections["plan"] == "Same text."


def test_autosave_refuses_unknown_sections_and_overlong_text_by_field(world):
    note = draft(world.client, world.therapist, filled=False)
    with pytest.raises(ValidationError) as exc:
        services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                               sections={"narrative": "x"})  # fmt: skip
    assert "sections" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                               sections={"plan": "x" * 20_001})  # fmt: skip
    assert "plan" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                               sections={"plan": "a\x00b"})  # fmt: skip
    assert "plan" in exc.value.message_dict


def test_only_the_author_edits_a_draft(world):
    supervise(world.therapist, world.therapist2)
    note = draft(world.client, world.therapist)
    # The supervisor can read the draft but not change it: 403.
    with pytest.raises(PermissionDenied):
        services.note_autosave(actor=world.therapist2, note_id=note.pk, version=note.version,
                               sections={"plan": "Mine now."})  # fmt: skip
    # Anyone else does not see it at all: 404.
    for other in (world.prescriber, world.admin, world.biller, world.other_therapist):
        with pytest.raises(NotFound):
            services.note_autosave(actor=other, note_id=note.pk, version=note.version,
                                   sections={"plan": "Mine now."})  # fmt: skip


# ---- sign -----------------------------------------------------------------------------------


def test_signing_locks_the_note_with_the_typed_name_and_a_digest(world):
    note = draft(world.client, world.therapist)
    done = sign(note, world.therapist, name=f"  {world.therapist.user.full_name.upper()} ")
    assert done.status == "signed" and done.is_final and not done.cosign_required
    assert done.signed_by == world.therapist.user and done.signed_at is not None
    assert done.signature_name == world.therapist.user.full_name.upper()
    assert len(done.content_sha256) == 64
    assert AuditEvent.objects.filter(action="note.sign", target_id=note.pk).exists()


def test_signing_names_every_missing_required_section(world):
    note = draft(world.client, world.therapist, filled=False)
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                           sections={"subjective": "Arrived calm."})  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        sign(note, world.therapist)
    assert set(exc.value.message_dict) == {"objective", "assessment", "plan", "discharge"}
    note.refresh_from_db()
    assert note.status == "draft"


def test_a_typed_name_that_does_not_match_is_refused_naming_the_field(world):
    note = draft(world.client, world.therapist)
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        sign(note, world.therapist, name="Somebody Else")
    assert list(exc.value.message_dict) == ["signature_name"]
    note.refresh_from_db()
    assert note.status == "draft" and note.signed_at is None
    assert AuditEvent.objects.count() == before  # nothing half-saved


def test_a_signed_note_cannot_be_edited_signed_again_or_deleted(world):
    note = signed(world.client, world.therapist)
    for call in (
        lambda: services.note_autosave(actor=world.therapist, note_id=note.pk,
                                       version=note.version, sections={"plan": "Changed."}),
        lambda: sign(note, world.therapist),
        lambda: services.note_delete(actor=world.therapist, note_id=note.pk),
    ):  # fmt: skip
        with pytest.raises(DomainError) as exc:
            call()
        assert exc.value.code == "note.signed"
    note.refresh_from_db()
    assert note.sections["plan"] == text_for("plan")


def test_signing_by_someone_else_is_refused(world):
    supervise(world.therapist, world.therapist2)
    note = draft(world.client, world.therapist)
    with pytest.raises(PermissionDenied):
        sign(note, world.therapist2)


# ---- delete ---------------------------------------------------------------------------------


def test_the_author_deletes_a_draft(world):
    note = draft(world.client, world.therapist)
    services.note_delete(actor=world.therapist, note_id=note.pk)
    assert not Note.objects.exists()
    assert AuditEvent.objects.filter(action="note.delete", target_id=note.pk).exists()


# ---- addenda --------------------------------------------------------------------------------


def test_an_addendum_is_dated_and_attributed(world):
    note = signed(world.client, world.therapist)
    when = timezone.now() + datetime.timedelta(days=2)
    addendum = services.addendum_add(
        actor=world.therapist, note_id=note.pk, text="  Client called: slept well. ", now=when
    )
    assert (addendum.text, addendum.created_at) == ("Client called: slept well.", when)
    assert (addendum.author, addendum.author_user) == (world.therapist, world.therapist.user)


def test_another_clinician_on_the_care_team_may_add_an_addendum(world):
    note = signed(world.client, world.therapist)
    with pytest.raises(NotFound):  # not on the team: cannot even see the note
        services.addendum_add(actor=world.therapist2, note_id=note.pk, text="Seen.")
    on_team(world.client, world.therapist2)
    assert services.addendum_add(actor=world.therapist2, note_id=note.pk, text="Seen.").pk


def test_a_practice_admin_reads_but_may_not_add_an_addendum(world):
    note = signed(world.client, world.therapist)
    with pytest.raises(PermissionDenied):
        services.addendum_add(actor=world.admin, note_id=note.pk, text="Admin words.")
    assert not Addendum.objects.exists()


def test_an_addendum_needs_text_and_a_signed_note(world):
    note = draft(world.client, world.therapist)
    with pytest.raises(DomainError) as exc:
        services.addendum_add(actor=world.therapist, note_id=note.pk, text="Early.")
    assert exc.value.code == "note.draft"
    note = sign(note, world.therapist)
    with pytest.raises(ValidationError) as exc:
        services.addendum_add(actor=world.therapist, note_id=note.pk, text="   ")
    assert "text" in exc.value.message_dict


# ---- co-sign --------------------------------------------------------------------------------


def test_a_supervised_clinicians_note_needs_the_supervisors_cosignature(world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    assert note.cosign_required and not note.is_final and note.awaiting_cosign
    done = services.note_cosign(
        actor=world.therapist2, note_id=note.pk, signature_name=world.therapist2.user.full_name
    )
    assert done.is_final and done.cosigned_by == world.therapist2
    assert AuditEvent.objects.filter(action="note.cosign", target_id=note.pk).exists()
    with pytest.raises(DomainError) as exc:
        services.note_cosign(actor=world.therapist2, note_id=note.pk,
                             signature_name=world.therapist2.user.full_name)  # fmt: skip
    assert exc.value.code == "note.cosigned"


def test_only_the_supervisor_cosigns(world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    with pytest.raises(PermissionDenied):
        services.note_cosign(actor=world.therapist, note_id=note.pk,
                             signature_name=world.therapist.user.full_name)  # fmt: skip
    with pytest.raises(PermissionDenied):
        services.note_cosign(actor=world.admin, note_id=note.pk,
                             signature_name=world.admin.user.full_name)  # fmt: skip
    with pytest.raises(NotFound):
        services.note_cosign(actor=world.other_therapist, note_id=note.pk,
                             signature_name=world.other_therapist.user.full_name)  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        services.note_cosign(actor=world.therapist2, note_id=note.pk, signature_name="Nobody")
    assert list(exc.value.message_dict) == ["signature_name"]
    note.refresh_from_db()
    assert note.cosigned_at is None


def test_a_note_without_supervision_needs_no_cosignature(world):
    note = signed(world.client, world.therapist)
    with pytest.raises(DomainError) as exc:
        services.note_cosign(actor=world.therapist2, note_id=note.pk, signature_name="x")
    assert exc.value.code in ("note.no_cosign", "not_found")


# ---- supervision ----------------------------------------------------------------------------


def test_practice_admins_start_and_end_supervision(world):
    made = services.supervision_start(
        actor=world.admin, supervisee_id=world.therapist.pk, supervisor_id=world.therapist2.pk
    )
    assert made.active
    with pytest.raises(ValidationError) as exc:
        services.supervision_start(
            actor=world.admin, supervisee_id=world.therapist.pk, supervisor_id=world.therapist2.pk
        )
    assert "supervisee" in exc.value.message_dict
    ended = services.supervision_end(actor=world.admin, supervision_id=made.pk)
    assert not ended.active


def test_supervision_is_refused_for_others_and_outside_the_practice(world):
    for actor in (world.therapist, world.biller, world.prescriber):
        with pytest.raises(NotFound):
            services.supervision_start(actor=actor, supervisee_id=world.therapist.pk,
                                       supervisor_id=world.therapist2.pk)  # fmt: skip
    # Another practice's admin cannot name this practice's clinicians.
    with pytest.raises(ValidationError) as exc:
        services.supervision_start(actor=world.other_admin, supervisee_id=world.therapist.pk,
                                   supervisor_id=world.therapist2.pk)  # fmt: skip
    assert "supervisee" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.supervision_start(actor=world.admin, supervisee_id=world.therapist.pk,
                                   supervisor_id=world.other_therapist.pk)  # fmt: skip
    assert "supervisor" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.supervision_start(actor=world.admin, supervisee_id=world.therapist.pk,
                                   supervisor_id=world.therapist.pk)  # fmt: skip
    assert not Supervision.objects.exists()


# ---- who reads what -------------------------------------------------------------------------


@pytest.fixture
def notes(world):
    """A signed progress note of each session type, a psychotherapy note and a draft."""
    supervise(world.therapist, world.therapist2)
    made = {
        "therapy": signed(world.client, world.therapist, session_type="therapy"),
        "dosing": signed(world.client, world.therapist, session_type="dosing"),
        "psychotherapy": signed(
            world.client, world.therapist, session_type="therapy", kind="psychotherapy"
        ),
        "draft": draft(world.client, world.therapist, session_type="integration"),
    }
    return made


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("therapist", {"therapy", "dosing", "psychotherapy", "draft"}),
        ("therapist2", {"therapy", "dosing", "psychotherapy", "draft"}),  # the supervisor
        ("admin", {"therapy", "dosing"}),
        ("prescriber", {"dosing"}),  # partner: medical sessions only
        ("biller", set()),
        ("other_admin", set()),
        ("other_therapist", set()),
        ("client_member", set()),
        ("companion", set()),
    ],
)
def test_who_reads_which_notes(world, notes, who, visible):
    readable = set(policy.notes_queryset(getattr(world, who)).values_list("pk", flat=True))
    assert readable == {notes[name].pk for name in visible}


def test_a_care_team_clinician_who_is_not_the_supervisor_reads_signed_progress_notes(world):
    note = signed(world.client, world.therapist, kind="psychotherapy", session_type="therapy")
    progress = signed(world.client, world.therapist, session_type="therapy")
    colleague = member(world.practice, Role.THERAPIST)
    on_team(world.client, colleague)
    readable = set(policy.notes_queryset(colleague).values_list("pk", flat=True))
    assert readable == {progress.pk} and note.pk not in readable


def test_a_partner_prescribers_own_note_stays_readable_to_them(world):
    note = signed(world.client, world.prescriber, session_type="followup")
    assert policy.notes_queryset(world.prescriber).filter(pk=note.pk).exists()
    assert policy.notes_queryset(world.therapist).filter(pk=note.pk).exists()


# ---- immutability in the database ------------------------------------------------------------


pg_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger is PostgreSQL-only"
)


@pg_only
def test_the_database_refuses_changes_to_a_signed_note_and_its_addenda(world):
    note = signed(world.client, world.therapist)
    addendum = services.addendum_add(actor=world.therapist, note_id=note.pk, text="Later.")
    for change in ({"sections": {"plan": "Rewritten."}}, {"status": "draft", "signed_at": None,
                   "signed_by": None}, {"version": 99}, {"signature_name": "X"}):  # fmt: skip
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            Note.objects.filter(pk=note.pk).update(**change)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Addendum.objects.filter(pk=addendum.pk).update(text="Edited.")
    for table, pk in (("notes_addendum", addendum.pk), ("notes_note", note.pk)):
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
    note.refresh_from_db()
    assert note.sections["plan"] == text_for("plan") and note.status == "signed"


@pg_only
def test_the_database_allows_the_cosignature_once_and_drafts_freely(world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    services.note_cosign(actor=world.therapist2, note_id=note.pk,
                         signature_name=world.therapist2.user.full_name)  # fmt: skip
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Note.objects.filter(pk=note.pk).update(cosign_name="Someone Else")
    other = draft(world.client, world.therapist)
    Note.objects.filter(pk=other.pk).update(sections={"plan": "Fine while a draft."})
    Note.objects.filter(pk=other.pk).delete()
    assert not Note.objects.filter(pk=other.pk).exists()


# ---- transactions and audit ------------------------------------------------------------------


def test_signing_is_all_or_nothing(world, monkeypatch):
    note = draft(world.client, world.therapist)

    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", broken)
    with pytest.raises(RuntimeError):
        sign(note, world.therapist)
    note.refresh_from_db()
    assert note.status == "draft" and note.signed_at is None and note.content_sha256 == ""


def test_reading_a_note_is_audited_without_its_text(world):
    from kapflow.notes import selectors

    note = signed(world.client, world.therapist)
    selectors.note_get_for_actor(actor=world.admin, note_id=note.pk)
    event = AuditEvent.objects.get(action="note.view", target_id=note.pk)
    assert (event.client_id, event.actor_id) == (world.client.pk, world.admin.user_id)
    assert event.changed_fields == []


def test_the_list_selector_pins_its_queries(world, django_assert_num_queries):
    from kapflow.notes import selectors

    signed(world.client, world.therapist)
    # The notes with their people, the audit chain's head (lock and read), one audit row.
    with django_assert_num_queries(3):
        assert len(selectors.note_list(actor=world.therapist, client=world.client)) == 1
    for _ in range(4):
        signed(world.client, world.therapist, session_type="therapy")
    with django_assert_num_queries(3):
        assert len(selectors.note_list(actor=world.therapist, client=world.client)) == 5


# ---- appointments -----------------------------------------------------------------------------


def _appointment(world, client, *, course=None, starts_at=None, group=False):
    from kapflow.scheduling.models import Appointment, AppointmentParticipant

    starts_at = starts_at or timezone.now() - datetime.timedelta(days=3)
    appointment = Appointment.objects.create(
        organisation=world.practice, kind="dosing", course=None if group else course,
        starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=3),
        time_zone="America/Los_Angeles", is_group=group, created_by=world.therapist.user,
    )  # fmt: skip
    AppointmentParticipant.objects.create(
        organisation=world.practice, appointment=appointment, client=client, course=course,
        starts_at=appointment.starts_at, ends_at=appointment.ends_at,
    )  # fmt: skip
    return appointment


def test_a_note_for_an_appointment_takes_its_course_and_day(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber)
    appointment = _appointment(world, world.client, course=course)
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="dosing",
        appointment_id=appointment.pk,
    )  # fmt: skip
    assert (note.appointment, note.course) == (appointment, course)
    assert note.session_date == clock.clinical_date(world.practice, appointment.starts_at)


def test_a_group_session_gives_each_client_their_own_note(world):
    appointment = _appointment(world, world.client, group=True)
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="dosing",
        appointment_id=appointment.pk,
    )  # fmt: skip
    assert note.appointment == appointment
    # An appointment the client is not part of is refused, naming the field.
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=world.unreferred.pk, session_type="dosing",
            appointment_id=appointment.pk,
        )  # fmt: skip
    assert "appointment" in exc.value.message_dict


def test_a_late_evening_session_is_dated_in_the_zone_it_was_booked_in(world):
    # 21:30 in Los Angeles on 2026-11-20 is 05:30 UTC on the 21st.
    starts = datetime.datetime(2026, 11, 21, 5, 30, tzinfo=datetime.UTC)
    appointment = _appointment(world, world.client, starts_at=starts)
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="dosing",
        appointment_id=appointment.pk,
    )  # fmt: skip
    assert note.session_date == datetime.date(2026, 11, 20)


def test_content_intact_detects_a_change_after_signing(world):
    from kapflow.notes import selectors

    note = signed(world.client, world.therapist)
    assert selectors.content_intact(note) is True
    note.sections["plan"] = "Tampered."
    assert selectors.content_intact(note) is False
    assert selectors.content_intact(draft(world.client, world.therapist)) is None
