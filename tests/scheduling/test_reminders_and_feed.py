"""Reminders (no PHI, idempotent, the recipient's own zone, SMS through the backend) and the
iCalendar feed (secret URL, revoked is 404, no PHI, constant query count)."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from kapflow.scheduling import services
from kapflow.scheduling.models import CalendarFeed, ReminderSent, SchedulingSettings
from kapflow.scheduling.reminders import reminders_send
from kapflow.scheduling.sms import LocmemBackend
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book, room


@pytest.fixture
def sms_outbox(settings):
    settings.KAPFLOW_SMS_BACKEND = "kapflow.scheduling.sms.LocmemBackend"
    LocmemBackend.outbox = []
    return LocmemBackend.outbox


def test_reminders_carry_no_phi_and_use_the_recipients_zone(world, sms_outbox):
    world.client.phone = "503-555-0100"
    world.client.save()
    world.client_member.user.time_zone = "America/New_York"
    world.client_member.user.save()
    SchedulingSettings.objects.create(organisation=world.practice, reminder_sms=True)
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    appt = book(world.therapist, None, kind="dosing", course_ids=[course.pk]).first
    sent = reminders_send(now=appt.starts_at - timedelta(hours=23))
    # client (e-mail + SMS), therapist, companion
    assert sent == 4 and len(mail.outbox) == 3 and len(sms_outbox) == 1
    for body in (
        [m.body for m in mail.outbox]
        + [b for _, b in sms_outbox]
        + [m.subject for m in mail.outbox]
    ):
        for secret in (world.client.legal_first_name, world.client.legal_last_name, "osing",
                       "ketamine", "https://"):  # fmt: skip
            assert secret not in body.split("Sign in")[0]
        assert world.practice.name in body or body == "Appointment reminder"
    to_client = next(m for m in mail.outbox if m.to == [world.client_member.user.email])
    assert "13:00 EST" in to_client.body  # 10:00 Pacific, read in New York
    to_therapist = next(m for m in mail.outbox if m.to == [world.therapist.user.email])
    assert "10:00 PST" in to_therapist.body


def test_reminders_are_idempotent_and_each_offset_goes_once(world):
    appt = book(world.therapist, world.client).first
    assert reminders_send(now=appt.starts_at - timedelta(days=2)) == 0
    assert reminders_send(now=appt.starts_at - timedelta(hours=23)) == 2
    assert reminders_send(now=appt.starts_at - timedelta(hours=22)) == 0
    assert reminders_send(now=appt.starts_at - timedelta(hours=1)) == 2
    assert reminders_send(now=appt.starts_at - timedelta(minutes=30)) == 0
    assert len(mail.outbox) == 4
    assert ReminderSent.objects.count() == 4


def test_a_late_booking_sends_one_reminder_for_all_due_offsets(world):
    appt = book(world.therapist, world.client).first
    assert reminders_send(now=appt.starts_at - timedelta(minutes=60)) == 2
    assert ReminderSent.objects.count() == 4  # 1440 and 120, for each of the two


def test_cancelled_appointments_get_no_reminder(world):
    appt = book(world.therapist, world.client).first
    services.appointment_cancel(actor=world.therapist, appointment_id=appt.pk, version=1,
                                reason="Ill")  # fmt: skip
    assert reminders_send(now=appt.starts_at - timedelta(hours=1)) == 0


def test_send_reminders_command_sends_what_is_due_now(world):
    appt = book(world.therapist, world.client).first
    out = StringIO()
    with time_machine.travel(appt.starts_at - timedelta(minutes=60), tick=False):
        call_command("send_reminders", stdout=out)
    assert out.getvalue().strip() == "reminders: SUCCESSFUL"
    assert ReminderSent.objects.filter(appointment=appt).count() == 4
    assert len(mail.outbox) == 2


# ---- the feed -------------------------------------------------------------------------------


def _events(response):
    return list(Calendar.from_ical(response.content).walk("VEVENT"))


def _feed(actor, **kwargs) -> str:
    _, raw = services.calendar_feed_create(actor=actor, **kwargs)
    return f"/schedule/feed/{raw}.ics"


def test_feed_has_no_phi_and_cancelled_events(client, world, settings):
    settings.KAPFLOW_BASE_URL = "https://kapflow.example"
    appt = book(world.therapist, world.client, telehealth_url="https://video.example/room").first
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    gone = book(world.therapist, other, starts_at=at(2027, 3, 2, 10)).first
    services.appointment_cancel(actor=world.therapist, appointment_id=gone.pk, version=1,
                                reason="Ill")  # fmt: skip
    url = _feed(world.therapist)
    response = client.get(url)  # no session
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    text = response.content.decode()
    for secret in (world.client.legal_last_name, other.legal_last_name, "video.example", "Therapy"):
        assert secret not in text
    events = {str(e["UID"]): e for e in _events(response)}
    assert set(events) == {
        f"appointment-{appt.pk}@kapflow.example",
        f"appointment-{gone.pk}@kapflow.example",
    }
    assert str(events[f"appointment-{appt.pk}@kapflow.example"]["SUMMARY"]) == "kapflow appointment"
    assert str(events[f"appointment-{appt.pk}@kapflow.example"]["LOCATION"]) == "Telehealth"
    assert str(events[f"appointment-{gone.pk}@kapflow.example"]["STATUS"]) == "CANCELLED"


def test_feed_show_details_adds_only_the_kind(client, world):
    book(world.therapist, world.client)
    text = client.get(_feed(world.therapist, show_details=True)).content.decode()
    assert "Therapy session" in text and world.client.legal_last_name not in text


def test_the_clients_own_feed(client, world):
    appt = book(world.therapist, world.client).first
    events = _events(client.get(_feed(world.client_member)))
    assert [str(e["UID"]).split("@")[0] for e in events] == [f"appointment-{appt.pk}"]


def test_revoked_or_unknown_token_is_404_and_use_is_recorded(client, world):
    url = _feed(world.therapist)
    assert client.get(url).status_code == 200
    assert CalendarFeed.objects.get().last_used_at is not None
    services.calendar_feed_revoke(actor=world.therapist)
    assert client.get(url).status_code == 404
    assert client.get("/schedule/feed/nope.ics").status_code == 404


def test_feed_query_count_is_constant(client, world):
    url = _feed(world.therapist)
    book(world.therapist, world.client)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for day in range(2, 7):
        other = ClientFactory(organisation=world.practice)
        on_team(other, world.therapist)
        book(world.therapist, other, starts_at=at(2027, 3, day, 9))
    with CaptureQueriesContext(connection) as many:
        assert len(_events(client.get(url))) == 6
    assert len(many) == len(one)


def test_long_and_special_room_names_fold_and_escape(client, world):
    cedar = room(world.practice, name="Salle Érable, 2nd floor; the quiet one " + "é" * 40)
    book(world.therapist, world.client, room_id=cedar.pk)
    response = client.get(_feed(world.therapist))
    assert all(len(line) <= 75 for line in response.content.split(b"\r\n"))
    (event,) = _events(response)
    assert str(event["LOCATION"]) == cedar.name
