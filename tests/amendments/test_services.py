"""Amendment services: the client asks and disagrees, a licensed clinician extends, accepts or
denies and rebuts; each failure names its field or rule and leaves nothing half-saved; the
signed note is never changed; the audit trail and the e-mails carry no PHI."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from kapflow.amendments import selectors, services
from kapflow.amendments.models import AmendmentRequest
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.notes.models import Note
from tests.accounts.factories import member, practice_today
from tests.amendments.factories import SHOULD, WHY, WRONG, accept, ask, deny, gad7
from tests.notes.factories import signed
from tests.patients.factories import ClientFactory, on_team

pytestmark = pytest.mark.django_db


def _audit_values(action: str) -> str:
    rows = AuditEvent.objects.filter(action=action).values()
    assert rows, action
    return " ".join(str(v) for row in rows for v in row.values())


def _no_phi(text: str) -> None:
    for secret in (WRONG, SHOULD, WHY, "sertraline"):
        assert secret not in text


# ---- asking --------------------------------------------------------------------------------


def test_the_client_asks_and_the_practice_has_60_days(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = ask(world, tell_others="Dr Example at the pharmacy")
    assert (row.client, row.organisation, row.status) == (world.client, world.practice, "open")
    assert (row.what_is_wrong, row.should_say, row.why) == (WRONG, SHOULD, WHY)
    assert row.received_on == practice_today()
    assert row.due_on == practice_today() + dt.timedelta(days=60)
    assert row.requested_by == world.client_member.user
    _no_phi(_audit_values("amendment.request"))
    # The practice's clinicians on the care team are told; the partner's prescriber is not.
    assert [m.to for m in mailoutbox] == [[world.therapist.user.email]]
    _no_phi(mailoutbox[0].body + mailoutbox[0].subject)
    assert f"/amendments/{row.pk}/" in mailoutbox[0].body


def test_a_request_about_a_questionnaire_names_one_the_client_answered(world):
    response = gad7(world)
    row = ask(world, part="assessment", response_id=response.pk, part_description="")
    assert row.response == response


def test_another_clients_questionnaire_is_refused_by_its_field(world):
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    response = gad7(world, client=other)
    with pytest.raises(ValidationError) as caught:
        ask(world, part="assessment", response_id=response.pk)
    assert set(caught.value.message_dict) == {"response_id"}
    assert AmendmentRequest.objects.count() == 0


def test_every_missing_field_is_named_and_nothing_is_saved(world):
    with pytest.raises(ValidationError) as caught:
        ask(world, part="other", part_description=" ", what_is_wrong="", should_say=None, why="")
    assert set(caught.value.message_dict) == {
        "part_description", "what_is_wrong", "should_say", "why",
    }  # fmt: skip
    assert AmendmentRequest.objects.count() == 0
    assert not AuditEvent.objects.filter(action="amendment.request").exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"part": "billing"}, "part"),
        ({"part": "assessment"}, "response_id"),
        ({"part": "demographics", "response_id": 1}, "response_id"),
        ({"what_is_wrong": "x" * 5001}, "what_is_wrong"),
        ({"why": "bad\x00text"}, "why"),
        ({"tell_others": "y" * 501}, "tell_others"),
        ({"part_description": "z" * 301}, "part_description"),
    ],
)
def test_bad_input_names_its_field(world, fields, field):
    with pytest.raises(ValidationError) as caught:
        ask(world, **fields)
    assert field in caught.value.message_dict
    assert AmendmentRequest.objects.count() == 0


@pytest.mark.parametrize("role", ["therapist", "admin", "companion", "other_admin"])
def test_only_a_client_asks_for_their_own_record(world, role):
    with pytest.raises(NotFound):
        services.amendment_request(
            actor=getattr(world, role), part="demographics", what_is_wrong=WRONG,
            should_say=SHOULD, why=WHY,
        )  # fmt: skip
    assert AmendmentRequest.objects.count() == 0


# ---- extending -----------------------------------------------------------------------------


def test_the_deadline_is_extended_once_with_a_reason_the_client_is_sent(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    row = ask(world)
    with django_capture_on_commit_callbacks(execute=True):
        row = services.amendment_extend(
            actor=world.therapist, amendment_id=row.pk, reason="Waiting for the pharmacy."
        )
    assert row.due_on == row.received_on + dt.timedelta(days=90)
    assert (row.extended_by, row.extension_reason) == (world.therapist, "Waiting for the pharmacy.")
    assert [m.to for m in mailoutbox] == [[world.client_member.user.email]]
    assert "pharmacy" not in mailoutbox[0].body
    with pytest.raises(DomainError) as caught:
        services.amendment_extend(actor=world.therapist, amendment_id=row.pk, reason="Again.")
    assert caught.value.code == "amendment.extension_refused"
    row.refresh_from_db()
    assert row.extension_reason == "Waiting for the pharmacy."


def test_no_extension_after_the_60_days(world, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    row = ask(world)
    time_machine.move_to(clock.now() + dt.timedelta(days=62), tick=False)
    with pytest.raises(DomainError) as caught:
        services.amendment_extend(actor=world.therapist, amendment_id=row.pk, reason="Late.")
    assert caught.value.code == "amendment.extension_refused"
    row.refresh_from_db()
    assert row.extended_at is None


def test_an_extension_needs_its_reason(world):
    row = ask(world)
    with pytest.raises(ValidationError) as caught:
        services.amendment_extend(actor=world.therapist, amendment_id=row.pk, reason="  ")
    assert set(caught.value.message_dict) == {"reason"}
    row.refresh_from_db()
    assert (row.extended_at, row.due_on) == (None, row.received_on + dt.timedelta(days=60))


# ---- deciding ------------------------------------------------------------------------------


def test_accepting_a_note_request_attaches_the_amendment_and_leaves_the_note_signed(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    note = signed(world.client, world.therapist)
    before = Note.objects.filter(pk=note.pk).values().get()
    row = ask(world)
    with django_capture_on_commit_callbacks(execute=True):
        row = accept(world, row, note_id=note.pk, explanation="I have told the pharmacy.")
    assert (row.status, row.note, row.amendment_text) == ("accepted", note, SHOULD)
    assert (row.decided_by, row.decided_by_name) == (
        world.therapist,
        world.therapist.user.full_name,
    )
    assert (row.licence_type, row.licence_state) == ("LMFT", "OR")
    assert Note.objects.filter(pk=note.pk).values().get() == before
    assert [m.to for m in mailoutbox] == [[world.client_member.user.email]]
    _no_phi(mailoutbox[0].body + mailoutbox[0].subject)
    _no_phi(_audit_values("amendment.accept"))


def test_accepting_a_note_request_needs_the_note(world):
    row = ask(world)
    with pytest.raises(ValidationError) as caught:
        accept(world, row)
    assert set(caught.value.message_dict) == {"note_id"}
    row.refresh_from_db()
    assert (row.status, row.decided_at) == ("open", None)


def test_a_denial_needs_its_ground_and_explanation(world):
    row = ask(world, part="demographics", part_description="")
    with pytest.raises(ValidationError) as caught:
        deny(world, row, denial_basis="we_said_so", explanation="")
    assert set(caught.value.message_dict) == {"denial_basis", "explanation"}
    row.refresh_from_db()
    assert row.status == "open"
    assert not AuditEvent.objects.filter(action="amendment.deny").exists()


def test_a_denial_records_its_ground(world):
    row = deny(world, ask(world, part="demographics", part_description=""))
    assert (row.status, row.denial_basis) == ("denied", "accurate_and_complete")
    assert row.denial_basis_source == "45 CFR 164.526(a)(2)(iv)"
    assert row.amendment_text == ""


def test_an_unknown_decision_is_named(world):
    row = ask(world)
    with pytest.raises(ValidationError) as caught:
        services.amendment_decide(actor=world.therapist, amendment_id=row.pk, decision="maybe")
    assert "decision" in caught.value.message_dict


def test_a_decision_is_final(world):
    row = deny(world, ask(world))
    with pytest.raises(DomainError) as caught:
        accept(world, row, note_id=signed(world.client, world.therapist).pk)
    assert caught.value.code == "amendment.decided"
    row.refresh_from_db()
    assert row.status == "denied"
    with pytest.raises(DomainError):
        services.amendment_extend(actor=world.therapist, amendment_id=row.pk, reason="Late.")


@pytest.mark.parametrize("which", ["other_client", "psychotherapy", "draft"])
def test_only_a_signed_progress_note_of_the_client_can_be_named(world, which):
    if which == "other_client":
        other = ClientFactory(organisation=world.practice)
        on_team(other, world.therapist)
        note = signed(other, world.therapist)
    elif which == "psychotherapy":
        note = signed(world.client, world.therapist, session_type="therapy", kind="psychotherapy")
    else:
        from tests.notes.factories import draft

        note = draft(world.client, world.therapist)
    row = ask(world)
    with pytest.raises(ValidationError) as caught:
        accept(world, row, note_id=note.pk)
    assert set(caught.value.message_dict) == {"note_id"}


def test_a_note_is_named_only_for_note_or_other_requests(world):
    note = signed(world.client, world.therapist)
    row = ask(world, part="demographics", part_description="")
    with pytest.raises(ValidationError) as caught:
        deny(world, row, note_id=note.pk)
    assert set(caught.value.message_dict) == {"note_id"}


def test_who_may_not_decide_is_told_so_or_not_found(world):
    row = ask(world)
    # The practice admin reads the request but does not decide: 403.
    with pytest.raises(PermissionDenied):
        services.amendment_decide(
            actor=world.admin, amendment_id=row.pk, decision="deny",
            denial_basis="accurate_and_complete", explanation="No.",
        )  # fmt: skip
    # Not on the team, a partner, a biller, another practice: not found.
    for role in ("therapist2", "prescriber", "biller", "other_therapist", "other_admin"):
        with pytest.raises(NotFound):
            services.amendment_decide(
                actor=getattr(world, role), amendment_id=row.pk, decision="deny",
                denial_basis="accurate_and_complete", explanation="No.",
            )  # fmt: skip
    row.refresh_from_db()
    assert row.status == "open"


def test_an_unlicensed_clinician_on_the_team_may_not_decide(world):
    from kapflow.accounts.models import Role

    unlicensed = member(world.practice, Role.THERAPIST)
    on_team(world.client, unlicensed)
    row = ask(world)
    with pytest.raises(PermissionDenied):
        services.amendment_decide(
            actor=unlicensed, amendment_id=row.pk, decision="accept", amendment_text="Yes."
        )


def test_another_practices_request_is_not_found_and_the_probe_recorded(world):
    row = ask(world)
    with pytest.raises(NotFound):
        services.amendment_extend(actor=world.other_therapist, amendment_id=row.pk, reason="x")
    # (The service's rollback takes a row written inside it along; pages and the API write
    # it after the view, tests/amendments/test_pages.py. The selector writes it at once.)
    with pytest.raises(NotFound):
        selectors.amendment_get_for_actor(actor=world.other_therapist, amendment_id=row.pk)
    probe = AuditEvent.objects.get(action="access.denied", target_id=row.pk)
    assert (probe.target_type, probe.record_organisation_id) == (
        "amendmentrequest", world.practice.pk,
    )  # fmt: skip


# ---- disagreeing and rebutting -------------------------------------------------------------


def test_after_a_denial_the_client_disagrees_and_the_practice_rebuts(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    row = deny(world, ask(world))
    with django_capture_on_commit_callbacks(execute=True):
        row = services.amendment_disagree(
            actor=world.client_member, amendment_id=row.pk, statement="I still disagree."
        )
    assert row.disagreement == "I still disagree."
    assert mailoutbox[-1].to == [world.therapist.user.email]
    with django_capture_on_commit_callbacks(execute=True):
        row = services.amendment_rebut(
            actor=world.therapist, amendment_id=row.pk, rebuttal="The record is correct."
        )
    assert (row.rebuttal, row.rebuttal_by) == ("The record is correct.", world.therapist)
    # The client is sent a copy (164.526(d)(3)): told there is news, the text is in the portal.
    assert mailoutbox[-1].to == [world.client_member.user.email]
    assert "correct." not in mailoutbox[-1].body
    with pytest.raises(DomainError) as caught:
        services.amendment_disagree(
            actor=world.client_member, amendment_id=row.pk, statement="Again."
        )
    assert caught.value.code == "amendment.disagreement_filed"
    with pytest.raises(DomainError) as caught:
        services.amendment_rebut(actor=world.therapist, amendment_id=row.pk, rebuttal="Again.")
    assert caught.value.code == "amendment.rebuttal_written"
    _no_phi(_audit_values("amendment.disagree") + _audit_values("amendment.rebut"))


def test_no_statement_of_disagreement_before_a_denial(world):
    row = ask(world)
    with pytest.raises(DomainError) as caught:
        services.amendment_disagree(actor=world.client_member, amendment_id=row.pk, statement="x")
    assert caught.value.code == "amendment.not_denied"
    with pytest.raises(DomainError) as caught:
        services.amendment_rebut(actor=world.therapist, amendment_id=row.pk, rebuttal="x")
    assert caught.value.code == "amendment.no_disagreement"


def test_an_empty_statement_is_named(world):
    row = deny(world, ask(world))
    with pytest.raises(ValidationError) as caught:
        services.amendment_disagree(actor=world.client_member, amendment_id=row.pk, statement="")
    assert set(caught.value.message_dict) == {"statement"}
    row.refresh_from_db()
    assert row.disagreement_at is None


def test_a_client_cannot_reach_another_clients_request(world):
    from kapflow.accounts.models import Role

    row = deny(world, ask(world))
    someone = member(world.practice, Role.CLIENT)
    ClientFactory(organisation=world.practice, user=someone.user)
    with pytest.raises(NotFound):
        services.amendment_disagree(actor=someone, amendment_id=row.pk, statement="Mine now.")
    row.refresh_from_db()
    assert row.disagreement == ""
    with pytest.raises(NotFound):
        selectors.own_amendment_get(actor=someone, amendment_id=row.pk)
    assert AuditEvent.objects.filter(action="access.denied", target_id=row.pk).exists()


# ---- the database keeps what was written ---------------------------------------------------

pg_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger is PostgreSQL-only"
)


@pg_only
def test_the_database_refuses_to_change_a_request_or_a_written_stage(world):
    row = ask(world)
    # An open request takes its stages one by one.
    AmendmentRequest.objects.filter(pk=row.pk).update(note_id=None)
    for change in ({"what_is_wrong": "Edited."}, {"received_on": row.received_on.replace(day=1)}):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            AmendmentRequest.objects.filter(pk=row.pk).update(**change)
    row = deny(world, row)
    row = services.amendment_disagree(
        actor=world.client_member, amendment_id=row.pk, statement="No."
    )
    for change in (
        {"explanation": "Rewritten."},
        {"status": "open", "decided_at": None, "decided_by": None, "denial_basis": ""},
        {"disagreement": "Softer."},
    ):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            AmendmentRequest.objects.filter(pk=row.pk).update(**change)
    with (
        pytest.raises(DatabaseError, match="DELETE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM amendments_amendmentrequest WHERE id = %s", [row.pk])
    # The rebuttal, not yet written, may still be.
    services.amendment_rebut(actor=world.therapist, amendment_id=row.pk, rebuttal="Yes.")
    row.refresh_from_db()
    assert (row.explanation, row.disagreement, row.rebuttal) == (
        "The prescription record shows the last refill in March.", "No.", "Yes.",
    )  # fmt: skip
