"""Journal services and selectors: the client writes, edits, shares, unshares and deletes
their own entries; staff read only shared ones, and only the right staff; nothing is
half-saved; the audit trail holds ids and field names, never the text."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import NotFound
from kapflow.journal import selectors, services
from kapflow.journal.models import JournalEntry
from tests.accounts.factories import member
from tests.journal.factories import course_with_dosings, dosing, entry
from tests.patients.factories import ClientFactory

SECRET = "I felt my grandmother's kitchen again."


@pytest.fixture
def course(world):
    return course_with_dosings(world.client, world.therapist, prescriber=world.prescriber)


@pytest.fixture
def latest_dosing(course):
    return course.events.filter(kind="dosing").order_by("-occurred_at").first()


@pytest.fixture
def someone_else(world):
    """Another client of the same practice, with a portal sign-in and a dosing session."""
    membership = member(world.practice, Role.CLIENT)
    client = ClientFactory(organisation=world.practice, user=membership.user)
    course = course_with_dosings(client, world.therapist, dosings=1)
    return type("Other", (), {"member": membership, "client": client, "course": course})()


def _create(world, **fields):
    values = {"kind": "integration", "body": SECRET} | fields
    return services.entry_create(actor=world.client_member, **values)


def _audit_text(action: str) -> str:
    return " ".join(
        str(v) for v in AuditEvent.objects.filter(action=action).values().first().values()
    )


# ---- writing ------------------------------------------------------------------------------


def test_client_writes_a_private_entry_about_a_dosing_session(world, course, latest_dosing):
    made = _create(world, dosing_event_id=latest_dosing.pk)
    assert (made.client, made.course, made.dosing_event) == (world.client, course, latest_dosing)
    assert made.organisation == world.practice
    assert (made.shared, made.shared_at) == (False, None)
    assert made.body == SECRET
    event = AuditEvent.objects.get(action="journal.create")
    assert (event.target_id, event.client_id) == (made.pk, world.client.pk)
    assert SECRET not in _audit_text("journal.create")


def test_a_shared_entry_records_when_it_was_shared(world, course):
    made = _create(world, shared=True)
    assert made.shared and made.shared_at is not None
    assert made.course == course  # no session named: the open course


def test_an_entry_with_no_course_at_all_has_none(world):
    made = _create(world, kind="reflection")
    assert made.course is None and made.dosing_event is None


def test_a_reflection_after_the_course_closed_reaches_its_latest_course(world, course):
    course.closed_at = timezone.now()
    course.save()
    assert _create(world, kind="reflection").course == course


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "   \n "}, "body"),
        ({"body": "x" * 20_001}, "body"),
        ({"body": "nul \x00 byte"}, "body"),
        ({"kind": "diary"}, "kind"),
        ({"dosing_event_id": 999_999}, "dosing_event"),
    ],
)
def test_invalid_entries_name_the_field_and_save_nothing(world, course, fields, field):
    with pytest.raises(ValidationError) as exc:
        _create(world, **fields)
    assert field in exc.value.message_dict
    assert JournalEntry.objects.count() == 0
    assert not AuditEvent.objects.filter(action="journal.create").exists()


def test_another_clients_dosing_session_cannot_be_named(world, course, someone_else):
    theirs = someone_else.course.events.get(kind="dosing")
    with pytest.raises(ValidationError) as exc:
        _create(world, dosing_event_id=theirs.pk)
    assert list(exc.value.message_dict) == ["dosing_event"]
    assert JournalEntry.objects.count() == 0


def test_a_course_event_that_is_not_a_dosing_session_cannot_be_named(world, course):
    from tests.courses.factories import event

    preparation = event(course, world.therapist, "preparation")
    with pytest.raises(ValidationError):
        _create(world, dosing_event_id=preparation.pk)


@pytest.mark.parametrize(
    "role", ["admin", "therapist", "prescriber", "biller", "companion", "other_admin"]
)
def test_nobody_but_the_client_writes_a_journal(world, course, role):
    with pytest.raises(NotFound):
        services.entry_create(actor=getattr(world, role), kind="intention", body="Hello.")
    assert JournalEntry.objects.count() == 0


# ---- editing, sharing, unsharing ----------------------------------------------------------


def test_editing_a_shared_entry_keeps_it_shared_and_records_the_edit(world, course):
    made = _create(world, shared=True)
    shared_at = made.shared_at
    edited = services.entry_update(
        actor=world.client_member, entry_id=made.pk, kind="integration", body="Changed.",
        shared=True,
    )  # fmt: skip
    assert edited.shared and edited.shared_at == shared_at
    assert edited.updated_at > made.created_at
    event = AuditEvent.objects.get(action="journal.update")
    assert event.changed_fields == ["body"]
    assert "Changed." not in _audit_text("journal.update")


def test_unsharing_hides_the_entry_from_staff_again(world, course):
    made = _create(world, shared=True)
    assert [
        e.pk for e in selectors.shared_entries_for_course(actor=world.therapist, course=course)
    ] == [made.pk]
    services.entry_update(
        actor=world.client_member, entry_id=made.pk, kind=made.kind, body=made.body, shared=False
    )
    made.refresh_from_db()
    assert (made.shared, made.shared_at) == (False, None)
    assert selectors.shared_entries_for_course(actor=world.therapist, course=course) == []
    assert AuditEvent.objects.get(action="journal.update").changed_fields == ["shared"]


def test_sharing_a_private_entry_later_sets_shared_at(world, course):
    made = _create(world)
    shared = services.entry_update(
        actor=world.client_member, entry_id=made.pk, kind=made.kind, body=made.body, shared=True
    )
    assert shared.shared_at is not None


def test_an_edit_that_changes_nothing_writes_nothing(world, course):
    made = _create(world)
    services.entry_update(
        actor=world.client_member, entry_id=made.pk, kind=made.kind, body=made.body, shared=False
    )
    assert not AuditEvent.objects.filter(action="journal.update").exists()


def test_moving_an_entry_to_another_session_moves_its_course(world, course, someone_else):
    made = _create(world, kind="reflection")
    earlier = dosing(course, world.therapist)
    moved = services.entry_update(
        actor=world.client_member, entry_id=made.pk, kind="integration", body=made.body,
        shared=False, dosing_event_id=earlier.pk,
    )  # fmt: skip
    assert (moved.dosing_event, moved.course) == (earlier, course)


def test_an_invalid_edit_changes_nothing(world, course):
    made = _create(world, shared=True)
    with pytest.raises(ValidationError):
        services.entry_update(
            actor=world.client_member, entry_id=made.pk, kind="integration", body="", shared=False
        )
    made.refresh_from_db()
    assert (made.body, made.shared) == (SECRET, True)


def test_a_client_cannot_edit_or_delete_another_clients_entry(world, course, someone_else):
    theirs = entry(someone_else.client, course=someone_else.course, shared=True)
    with pytest.raises(NotFound):
        services.entry_update(
            actor=world.client_member, entry_id=theirs.pk, kind="integration", body="Mine now.",
            shared=True,
        )  # fmt: skip
    with pytest.raises(NotFound):
        services.entry_delete(actor=world.client_member, entry_id=theirs.pk)
    theirs.refresh_from_db()
    assert theirs.body == "A quiet morning."


def test_the_client_deletes_their_own_entry(world, course):
    made = _create(world, shared=True)
    services.entry_delete(actor=world.client_member, entry_id=made.pk)
    assert not JournalEntry.objects.exists()
    event = AuditEvent.objects.get(action="journal.delete")
    assert (event.target_id, event.client_id) == (made.pk, world.client.pk)


# ---- reading ------------------------------------------------------------------------------


def test_the_client_sees_only_their_own_entries_newest_first(world, course, someone_else):
    first = _create(world)
    second = _create(world, shared=True)
    entry(someone_else.client, course=someone_else.course)
    assert [e.pk for e in selectors.entries_for_client(actor=world.client_member)] == [
        second.pk,
        first.pk,
    ]
    assert [e.pk for e in selectors.entries_for_client(actor=someone_else.member)] != [
        second.pk,
        first.pk,
    ]


@pytest.mark.parametrize("role", ["companion", "therapist", "admin"])
def test_only_clients_have_a_journal_list(world, role):
    with pytest.raises(NotFound):
        selectors.entries_for_client(actor=getattr(world, role))


def test_staff_read_only_shared_entries_of_the_course(world, course, latest_dosing):
    private = _create(world, body="Private words.")
    shared = _create(world, dosing_event_id=latest_dosing.pk, shared=True)
    for role in ("therapist", "admin"):
        listed = selectors.shared_entries_for_course(actor=getattr(world, role), course=course)
        assert [e.pk for e in listed] == [shared.pk]
        assert private.pk not in [e.pk for e in listed]
    event = AuditEvent.objects.filter(action="journal.read_shared").first()
    assert (event.target_type, event.target_id, event.client_id) == (
        "course",
        course.pk,
        world.client.pk,
    )


@pytest.mark.parametrize(
    "role",
    ["prescriber", "therapist2", "biller", "companion", "client_member", "other_admin",
     "other_therapist"],
)  # fmt: skip
def test_shared_entries_are_not_found_for_everyone_else(world, course, role):
    _create(world, shared=True)
    actor = getattr(world, role)
    assert policy.can_read_shared_journal(actor, course) is False
    with pytest.raises(NotFound):
        selectors.shared_entries_for_course(actor=actor, course=course)
    assert not AuditEvent.objects.filter(action="journal.read_shared").exists()


def test_a_therapist_whose_team_place_ended_no_longer_reads_the_journal(world, course):
    from kapflow.patients.models import CareTeamMember

    CareTeamMember.objects.filter(client=world.client, membership=world.therapist).update(
        ended_at=timezone.now()
    )
    assert policy.can_read_shared_journal(world.therapist, course) is False


def test_shared_entries_take_the_same_queries_for_1_and_20(
    world, course, latest_dosing, django_assert_num_queries
):
    _create(world, dosing_event_id=latest_dosing.pk, shared=True)
    # The permission check (one EXISTS), the entries with their sessions, the audit chain's
    # head (lock and read) and the audit row.
    with django_assert_num_queries(4):
        assert len(selectors.shared_entries_for_course(actor=world.therapist, course=course)) == 1
    for _ in range(19):
        _create(world, dosing_event_id=latest_dosing.pk, shared=True)
    with django_assert_num_queries(4):
        assert len(selectors.shared_entries_for_course(actor=world.therapist, course=course)) == 20
