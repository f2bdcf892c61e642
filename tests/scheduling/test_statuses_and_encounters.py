"""Appointment statuses (decision 0054): check in, start, complete, did not attend with a
reason, cancel; who may; refusals naming the field and changing nothing; every change
audited. And the appointment is the encounter: a dosing appointment follows its session
(opened: checked in; started: in session; discharged: completed; abandoned before the
dose: checked in again), and a preparation or integration appointment writes its course
event when completed, linked both ways."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.courses.models import CourseEvent
from kapflow.encounters import services as encounters
from kapflow.encounters.models import DosingSession
from kapflow.scheduling import selectors, services
from kapflow.scheduling.models import Appointment, AppointmentParticipant
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.encounters.factories import GOOD_START, dosing_appointment, ready_course
from tests.scheduling.factories import at, book

START = at(2027, 3, 2, 10)


def _state(appt) -> tuple:
    appt.refresh_from_db()
    return appt.status, appt.version


def _audits(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


@pytest.fixture
def appt(world):
    return book(world.therapist, world.client, starts_at=START).first


# ---- check in -------------------------------------------------------------------------------


def test_check_in_from_two_hours_before_and_audited(world, appt):
    with pytest.raises(ValidationError) as exc:
        services.appointment_check_in(
            actor=world.therapist,
            appointment_id=appt.pk,
            version=1,
            now=START - timedelta(hours=2, minutes=1),
        )
    assert "status" in exc.value.message_dict and "two hours" in str(exc.value)
    assert _state(appt) == ("scheduled", 1)
    done = services.appointment_check_in(
        actor=world.therapist, appointment_id=appt.pk, version=1, now=START - timedelta(hours=1)
    )
    assert done.status == "checked_in" and _audits("appointment.check_in") == 1
    # Still holding its time: the participant rows stay live.
    assert AppointmentParticipant.objects.filter(appointment=appt, live=True).count() == 2
    with pytest.raises(DomainError) as again:
        services.appointment_check_in(
            actor=world.therapist, appointment_id=appt.pk, version=2, now=START
        )
    assert again.value.field == "status" and "checked in" in again.value.message


def test_who_may_check_in(world, appt):
    for outsider in (world.other_therapist, world.biller):
        with pytest.raises(NotFound):
            services.appointment_check_in(
                actor=outsider, appointment_id=appt.pk, version=1, now=START
            )
    with pytest.raises(PermissionDenied):  # a partner's prescriber: not their kind
        services.appointment_check_in(
            actor=world.prescriber, appointment_id=appt.pk, version=1, now=START
        )
    assert _state(appt) == ("scheduled", 1)
    services.appointment_check_in(actor=world.admin, appointment_id=appt.pk, version=1, now=START)
    assert _state(appt) == ("checked_in", 2)


# ---- did not attend and cancel --------------------------------------------------------------


def test_no_show_needs_a_reason_and_comes_after_the_start(world, appt):
    with pytest.raises(ValidationError) as exc:
        services.appointment_mark(
            actor=world.therapist,
            appointment_id=appt.pk,
            version=1,
            status="no_show",
            reason="  ",
            now=START + timedelta(hours=1),
        )
    assert list(exc.value.message_dict) == ["reason"]
    with pytest.raises(ValidationError) as early:
        services.appointment_mark(
            actor=world.therapist,
            appointment_id=appt.pk,
            version=1,
            status="no_show",
            reason="No reply",
            now=START - timedelta(minutes=5),
        )
    assert list(early.value.message_dict) == ["status"]
    assert _state(appt) == ("scheduled", 1) and _audits("appointment.no_show") == 0
    services.appointment_check_in(
        actor=world.therapist, appointment_id=appt.pk, version=1, now=START
    )
    done = services.appointment_mark(
        actor=world.therapist,
        appointment_id=appt.pk,
        version=2,
        status="no_show",
        reason="Left before we began.",
        now=START + timedelta(minutes=20),
    )
    assert done.status == "no_show" and done.status_reason == "Left before we began."
    assert not AppointmentParticipant.objects.filter(appointment=appt, live=True).exists()
    assert _audits("appointment.no_show") == 1


def test_a_checked_in_appointment_can_be_cancelled_one_in_session_cannot(world):
    course = make_course(world.client, world.therapist, stage="consented")
    prep = book(
        world.therapist, None, kind="preparation", course_ids=[course.pk], starts_at=START
    ).first
    services.appointment_start(actor=world.therapist, appointment_id=prep.pk, version=1, now=START)
    with pytest.raises(DomainError) as exc:
        services.appointment_cancel(
            actor=world.therapist, appointment_id=prep.pk, version=2, reason="Client unwell"
        )
    assert exc.value.field == "status" and _state(prep) == ("in_session", 2)
    other = book(world.therapist, world.client, starts_at=START + timedelta(days=1)).first
    services.appointment_check_in(
        actor=world.therapist, appointment_id=other.pk, version=1, now=other.starts_at
    )
    services.appointment_cancel(
        actor=world.therapist, appointment_id=other.pk, version=2, reason="Client unwell"
    )
    assert _state(other)[0] == "cancelled"


def test_a_dosing_appointment_is_not_completed_by_hand(world):
    course = ready_course(world.client, world.therapist, world.prescriber)
    appt = dosing_appointment(course, world.therapist)
    with pytest.raises(DomainError) as exc:
        services.appointment_mark(
            actor=world.therapist, appointment_id=appt.pk, version=appt.version, status="completed"
        )
    assert exc.value.code == "scheduling.dosing_by_session" and exc.value.field == "status"
    assert _state(appt)[0] == "scheduled"


# ---- preparation and integration: the appointment writes the record -------------------------


def test_a_preparation_appointment_starts_completes_and_links_its_course_event(world):
    course = make_course(world.client, world.therapist, stage="consented")
    before = CourseEvent.objects.filter(course=course, kind="preparation").count()
    appt = book(
        world.therapist, None, kind="preparation", course_ids=[course.pk], starts_at=START
    ).first
    with pytest.raises(ValidationError) as early:
        services.appointment_start(
            actor=world.therapist, appointment_id=appt.pk, version=1, now=START - timedelta(hours=3)
        )
    assert "status" in early.value.message_dict
    started = services.appointment_start(
        actor=world.therapist, appointment_id=appt.pk, version=1, now=START + timedelta(minutes=2)
    )
    assert started.status == "in_session" and _audits("appointment.start") == 1
    done = services.appointment_complete(
        actor=world.therapist,
        appointment_id=appt.pk,
        version=2,
        note="Intentions and music discussed.",
        now=START + timedelta(minutes=55),
    )
    assert done.status == "completed" and done.integration_skipped == []
    event = CourseEvent.objects.filter(course=course, kind="preparation").latest("pk")
    assert CourseEvent.objects.filter(course=course, kind="preparation").count() == before + 1
    assert event.occurred_at == START and event.reason == "Intentions and music discussed."
    # Both ways: the appointment's participant row names the event, the event its appointment.
    row = AppointmentParticipant.objects.get(appointment=appt, client=world.client)
    assert row.course_event_id == event.pk
    assert event.appointment_participant.appointment_id == appt.pk
    assert event.data["appointment_id"] == appt.pk
    record = selectors.appointment_record(
        appointment=selectors.appointment_get_for_actor(
            actor=world.therapist, appointment_id=appt.pk
        )
    )
    assert record.event_course_ids == [course.pk] and record.session is None
    with pytest.raises(DomainError):  # once
        services.appointment_complete(
            actor=world.therapist, appointment_id=appt.pk, version=3, now=START + timedelta(hours=1)
        )


def test_only_preparation_and_integration_start_on_the_appointment(world, appt):
    with pytest.raises(ValidationError) as exc:
        services.appointment_start(
            actor=world.therapist, appointment_id=appt.pk, version=1, now=START
        )
    assert list(exc.value.message_dict) == ["kind"] and _state(appt) == ("scheduled", 1)


def test_a_note_longer_than_allowed_changes_nothing(world):
    course = make_course(world.client, world.therapist, stage="consented")
    appt = book(
        world.therapist, None, kind="preparation", course_ids=[course.pk], starts_at=START
    ).first
    count = CourseEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.appointment_complete(
            actor=world.therapist,
            appointment_id=appt.pk,
            version=1,
            note="x" * 501,
            now=START + timedelta(hours=1),
        )
    assert list(exc.value.message_dict) == ["note"]
    assert _state(appt) == ("scheduled", 1) and CourseEvent.objects.count() == count


# ---- dosing: the appointment follows its session --------------------------------------------


def test_a_dosing_appointment_follows_its_session(world):
    course = ready_course(world.client, world.therapist, world.prescriber)
    appt = dosing_appointment(course, world.therapist)
    session = encounters.session_open(
        actor=world.therapist, course_id=course.pk, appointment_id=appt.pk
    )
    assert _state(appt)[0] == "checked_in" and session.appointment_id == appt.pk
    found = selectors.appointment_record(appointment=appt)
    assert found.session.pk == session.pk and found.open_session.pk == session.pk
    session = encounters.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version, **GOOD_START
    )
    assert _state(appt)[0] == "in_session"
    encounters.session_abandon(
        actor=world.therapist,
        session_id=session.pk,
        version=session.version,
        reason="Client felt unwell.",
    )
    # Abandoned before the dose: checked in again, and a new session opens on it.
    assert _state(appt)[0] == "checked_in"
    again = encounters.session_open(
        actor=world.therapist, course_id=course.pk, appointment_id=appt.pk
    )
    assert again.appointment_id == appt.pk and _state(appt)[0] == "checked_in"
    assert selectors.appointment_record(appointment=appt).open_session.pk == again.pk
    assert AuditEvent.objects.filter(action="appointment.encounter_start").count() == 1


def test_an_appointment_with_an_open_session_is_not_cancelled_or_marked_missed(world):
    """Else the dose would be given and discharged on an appointment that says cancelled."""
    course = ready_course(world.client, world.therapist, world.prescriber)
    appt = dosing_appointment(course, world.therapist)
    encounters.session_open(actor=world.therapist, course_id=course.pk, appointment_id=appt.pk)
    appt.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        services.appointment_cancel(
            actor=world.therapist, appointment_id=appt.pk, version=appt.version, reason="Ill"
        )
    assert exc.value.code == "scheduling.session_open" and exc.value.field == "status"
    with pytest.raises(DomainError) as exc:
        services.appointment_mark(
            actor=world.therapist, appointment_id=appt.pk, version=appt.version,
            status="no_show", reason="Did not answer",
        )  # fmt: skip
    assert exc.value.code == "scheduling.session_open"
    assert _state(appt)[0] == "checked_in"
    assert _audits("appointment.cancel") == 0


def test_a_cancelled_appointment_opens_no_session(world):
    course = ready_course(world.client, world.therapist, world.prescriber)
    appt = dosing_appointment(course, world.therapist)
    services.appointment_cancel(
        actor=world.therapist, appointment_id=appt.pk, version=appt.version, reason="Rebooked"
    )
    with pytest.raises(ValidationError) as exc:
        encounters.session_open(actor=world.therapist, course_id=course.pk, appointment_id=appt.pk)
    assert list(exc.value.message_dict) == ["appointment"]
    assert not DosingSession.objects.filter(course=course).exists()


# ---- the pages -------------------------------------------------------------------------------


def test_the_appointment_page_offers_the_next_step_and_shows_the_status(client, world):
    course = make_course(world.client, world.therapist, stage="consented")
    appt = book(
        world.therapist, None, kind="preparation", course_ids=[course.pk], starts_at=START
    ).first
    with time_machine.travel(START - timedelta(minutes=30), tick=False):
        sign_in(client, world.therapist.user)
        page = client.get(f"/schedule/{appt.pk}/").content.decode()
        assert 'data-testid="check-in"' in page and 'data-testid="start"' in page
        assert 'class="status status-scheduled">Scheduled<' in page
        client.post(f"/schedule/{appt.pk}/start/", {"version": 1})
        page = client.get(f"/schedule/{appt.pk}/").content.decode()
        assert 'class="status status-in_session">In session<' in page
    with time_machine.travel(START + timedelta(minutes=50), tick=False):
        sign_in(client, world.therapist.user)
        done = client.post(
            f"/schedule/{appt.pk}/mark/",
            {"version": 2, "status": "completed", "reason": ""},
            follow=True,
        )
    html = done.content.decode()
    assert "Completed." in html and 'data-testid="record"' in html
    assert Appointment.objects.get(pk=appt.pk).status == "completed"


def test_the_no_show_form_without_a_reason_says_so(client, world, appt):
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        sign_in(client, world.therapist.user)
        page = client.post(
            f"/schedule/{appt.pk}/mark/", {"version": 1, "status": "no_show"}, follow=True
        )
    assert "Say what happened" in page.content.decode()
    assert Appointment.objects.get(pk=appt.pk).status == "scheduled"


def test_status_actions_are_404_to_another_practice_and_403_to_a_partner(client, world, appt):
    sign_in(client, world.other_therapist.user)
    assert client.post(f"/schedule/{appt.pk}/check-in/", {"version": 1}).status_code == 404
    sign_in(client, world.prescriber.user)
    assert client.post(f"/schedule/{appt.pk}/check-in/", {"version": 1}).status_code == 403
    assert _state(appt) == ("scheduled", 1)
