"""The dosing note starts from the session's record (issue 17): dose, vitals with the flagged
reading and its rule, events, discharge and the next appointment, in the practice's time;
struck entries left out; the assessment left to the clinician; refusals by field, nothing
half-saved."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.encounters import services as sessions
from kapflow.notes import services
from kapflow.notes.models import Note
from tests.conftest import sign_in
from tests.encounters.factories import MIN, dosed, dosing_appointment, ready_course, started

pytestmark = pytest.mark.django_db


@pytest.fixture
def discharged(world, time_machine):
    time_machine.move_to(datetime.datetime(2026, 12, 7, 18, 0, tzinfo=datetime.UTC), tick=False)
    course = ready_course(world.client, world.therapist, world.prescriber)
    at = timezone.now() - 150 * MIN
    session = dosed(world.therapist, course, at=at)
    for minutes, values in ((20, {"bp_systolic": 184, "bp_diastolic": 96}), (60, {})):
        when = at + minutes * MIN
        sessions.entry_add(
            actor=world.therapist, session_id=session.pk, kind="vitals", occurred_at=when,
            now=when, **{"bp_systolic": 128, "bp_diastolic": 82, "heart_rate": 70, **values},
        )  # fmt: skip
    sessions.entry_add(
        actor=world.therapist, session_id=session.pk, kind="event", event_type="nausea",
        intervention="Ondansetron 4 mg ODT per standing order.", occurred_at=at + 30 * MIN,
        now=at + 30 * MIN,
    )  # fmt: skip
    wrong = sessions.entry_add(
        actor=world.therapist, session_id=session.pk, kind="observation",
        text="Typed on the wrong chart.", occurred_at=at + 40 * MIN, now=at + 40 * MIN,
    )  # fmt: skip
    session.refresh_from_db()
    sessions.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=wrong.pk, strike=True, version=None,
        reason="Wrong client.",
    )  # fmt: skip
    session.refresh_from_db()
    sessions.session_discharge(
        actor=world.therapist, session_id=session.pk, version=session.version,
        alert_oriented=True, walks_steadily=True, escort_present=True,
        note="Left with her sister.",
    )  # fmt: skip
    session.refresh_from_db()
    return session


def _local(session, moment):
    return moment.astimezone(clock.clinical_zone(session.organisation)).strftime("%H:%M")


def test_the_dosing_note_draft_holds_what_the_session_recorded(world, discharged):
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="dosing",
        format="soap", dosing_session_id=discharged.pk,
    )  # fmt: skip
    s = note.sections
    dose_at = _local(discharged, discharged.started_at)
    assert "no alcohol in the last 24 hours" in s["subjective"]
    assert "a driver confirmed" in s["subjective"]
    assert f"{dose_at} Dose: 200 mg, Sublingual" in s["objective"]
    assert "BP 184/96" in s["objective"] and "flagged:" in s["objective"]
    assert "rule: systolic >= 180 mmHg" in s["objective"]
    assert "Event: Nausea; intervention: Ondansetron 4 mg ODT" in s["objective"]
    assert "wrong chart" not in s["objective"]  # struck through: left out
    assert s["assessment"] == ""  # the clinician's own
    assert "after 150 min of observation" in s["discharge"]
    assert "driver present" in s["discharge"] and "Left with her sister." in s["discharge"]
    assert note.course_id == discharged.course_id and note.status == "draft"
    event = AuditEvent.objects.filter(action="note.create").latest("id")
    assert f"drafted_from.dosing_session.{discharged.pk}" in str(event.changed_fields)


def test_a_dap_draft_puts_the_record_in_data_and_names_the_next_appointment(world, time_machine):
    time_machine.move_to(datetime.datetime(2026, 12, 7, 18, 0, tzinfo=datetime.UTC), tick=False)
    from kapflow.scheduling.models import Appointment

    course = ready_course(world.client, world.therapist, world.prescriber)
    appointment = dosing_appointment(course, world.therapist)
    at = timezone.now() - 150 * MIN
    session = sessions.session_open(
        actor=world.therapist, course_id=course.pk, appointment_id=appointment.pk, now=at
    )
    session = sessions.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version, now=at,
        bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
    )  # fmt: skip
    sessions.entry_add(
        actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
        amount=200, unit="mg", occurred_at=at, now=at,
    )  # fmt: skip
    sessions.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=126,
        bp_diastolic=80, occurred_at=at + 60 * MIN, now=at + 60 * MIN,
    )  # fmt: skip
    session.refresh_from_db()
    sessions.session_discharge(
        actor=world.therapist, session_id=session.pk, version=session.version,
        alert_oriented=True, walks_steadily=True, escort_present=True,
    )  # fmt: skip
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    Appointment.objects.create(
        organisation=course.organisation, kind="integration", course=course, follows=appointment,
        starts_at=tomorrow, ends_at=tomorrow + 60 * MIN, time_zone="America/Los_Angeles",
        created_by=world.therapist.user,
    )  # fmt: skip
    note = services.note_create(
        actor=world.therapist, client_id=world.client.pk, session_type="dosing", format="dap",
        dosing_session_id=session.pk,
    )  # fmt: skip
    assert list(note.sections) == ["data", "assessment", "plan", "discharge"]
    assert "Pre-dose BP 120/80" in note.sections["data"]
    assert "Dose: 200 mg" in note.sections["data"]
    local = tomorrow.astimezone(clock.clinical_zone(course.organisation))
    assert note.sections["plan"] == (
        f"Next: integration session booked for {local.strftime('%a %-d %b %Y, %H:%M')}."
    )
    assert note.appointment_id == appointment.pk  # taken from the session


def test_an_open_session_or_another_clients_session_is_refused_by_field(world):
    course = ready_course(world.client, world.therapist, world.prescriber)
    session = started(world.therapist, course)
    before = Note.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=world.client.pk, session_type="dosing",
            dosing_session_id=session.pk,
        )  # fmt: skip
    assert "discharge it" in exc.value.message_dict["session"][0]
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=world.unreferred.pk, session_type="dosing",
            dosing_session_id=session.pk,
        )  # fmt: skip
    assert "this client's dosing sessions" in exc.value.message_dict["session"][0]
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=world.client.pk, session_type="therapy",
            dosing_session_id=session.pk,
        )  # fmt: skip
    assert "session_type" in exc.value.message_dict
    assert Note.objects.count() == before


def test_the_session_screen_posts_straight_to_a_filled_draft(client, world, discharged):
    sign_in(client, world.therapist.user)
    screen = client.get(f"/sessions/{discharged.pk}/").content.decode()
    assert f'name="session" value="{discharged.pk}"' in screen
    response = client.post("/notes/new/", {
        "client": world.client.pk, "course": discharged.course_id, "session": discharged.pk,
        "session_type": "dosing", "format": "soap", "kind": "progress",
    })  # fmt: skip
    assert response.status_code == 302
    note = Note.objects.get(client=world.client)
    assert "Dose: 200 mg" in note.sections["objective"]
    page = client.get(response["Location"]).content.decode()
    assert "Dose: 200 mg" in page
