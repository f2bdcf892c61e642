# ruff: noqa: E501  (call sites kept one argument list per line)
"""Scheduling pages: who reaches which page (other practice 404, companion sees only the
time, the client only their own), booking with warnings and clashes, times in the viewer's
zone, and a week view whose query count does not grow."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.scheduling.models import Appointment
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book, room

WEEK = "/schedule/?week=2027-03-01"


@pytest.fixture
def appt(world):
    return book(world.therapist, world.client).first


STAFF_PAGES = ["/schedule/", "/schedule/book/", "/schedule/{id}/", "/schedule/{id}/reschedule/",
               "/schedule/{id}/cancel/"]  # fmt: skip


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("therapist", 200), ("admin", 200), ("prescriber", 200), ("therapist2", 404),
        ("biller", 404), ("other_admin", 404), ("other_therapist", 404),
        ("client_member", 404), ("companion", 404),
    ],
)  # fmt: skip
def test_appointment_pages_permission_matrix(client, world, appt, who, expected):
    sign_in(client, getattr(world, who).user)
    got = client.get(f"/schedule/{appt.pk}/")
    assert got.status_code == expected
    if who in ("biller", "client_member", "companion"):
        for url in STAFF_PAGES:
            assert client.get(url.format(id=appt.pk)).status_code == 404
    if who == "other_admin":
        for url in STAFF_PAGES[2:]:
            assert client.get(url.format(id=appt.pk)).status_code == 404


@pytest.mark.parametrize(
    ("who", "expected"),
    [("client_member", 200), ("companion", 404), ("therapist", 404), ("admin", 404)],
)
def test_mine_is_for_the_client_only(client, world, appt, who, expected):
    sign_in(client, getattr(world, who).user)
    assert client.get("/schedule/mine/").status_code == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    [("companion", 200), ("client_member", 404), ("therapist", 404)],
)
def test_companion_page_is_for_companions_only(client, world, who, expected):
    sign_in(client, getattr(world, who).user)
    assert client.get("/schedule/companion/").status_code == expected


def test_companion_sees_only_the_time_of_at_home_dosing(client, world):
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    book(world.therapist, None, kind="dosing", course_ids=[course.pk])
    book(world.therapist, world.client, starts_at=at(2027, 3, 8, 10))  # therapy: not shown
    page = sign_in(client, world.companion.user).get("/schedule/companion/").content.decode()
    page = page.split('data-testid="companion-appointments"')[1].split("</section>")[0]
    assert page.count("<li>") == 1
    assert "Dosing" not in page and "Therapy" not in page
    assert world.client.legal_last_name not in page
    assert "10:00" in page or "18:00" in page


def test_client_sees_own_appointments_in_own_zone(client, world, appt):
    world.client_member.user.time_zone = "America/New_York"
    world.client_member.user.save()
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    theirs = book(world.therapist, other, starts_at=at(2027, 3, 2, 10)).first
    page = sign_in(client, world.client_member.user).get("/schedule/mine/").content.decode()
    assert f"my-appt-{appt.pk}" in page and f"my-appt-{theirs.pk}" not in page
    assert "13:00" in page and "America/New_York" in page  # 10:00 Pacific


def test_the_week_shows_times_in_the_viewers_zone(client, world, appt):
    page = sign_in(client, world.therapist.user).get(WEEK).content.decode()
    assert f"appt-{appt.pk}" in page and "America/Los_Angeles" in page and "10:00" in page
    world.therapist.user.time_zone = "America/Chicago"
    world.therapist.user.save()
    page = client.get(WEEK).content.decode()
    assert "America/Chicago" in page and "12:00" in page


def test_admin_sees_another_clinicians_week_and_others_do_not(client, world, appt):
    url = f"{WEEK}&member={world.therapist.pk}"
    assert f"appt-{appt.pk}" in sign_in(client, world.admin.user).get(url).content.decode()
    assert sign_in(client, world.therapist2.user).get(url).status_code == 404
    assert sign_in(client, world.other_admin.user).get(url).status_code == 404


def test_week_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    sign_in(client, world.therapist.user)
    book(world.therapist, world.client)
    client.get(WEEK)
    with CaptureQueriesContext(connection) as one:
        client.get(WEEK)
    for day in range(2, 7):
        other = ClientFactory(organisation=world.practice)
        on_team(other, world.therapist)
        book(world.therapist, other, starts_at=at(2027, 3, day, 9))
    with CaptureQueriesContext(connection) as many:
        assert client.get(WEEK).content.decode().count('data-testid="appt-') == 6
    assert len(many) == len(one)


def test_book_from_the_course_link_with_warnings_then_confirm(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)
    form = client.get(f"/schedule/book/?course={course.pk}&kind=dosing")
    assert form.status_code == 200
    assert form.context["form"].initial["book_integration"] is True
    data = {"kind": "dosing", "clients": [world.client.pk], "starts_at": "2027-03-01T10:00",
            "telehealth": "on", "book_integration": "on",
            "integration_starts_at": "2027-03-02T10:00"}  # fmt: skip
    first = client.post("/schedule/book/", data)
    assert first.status_code == 200 and 'data-testid="warnings"' in first.content.decode()
    assert "stage.not_active" in first.content.decode()
    assert not Appointment.objects.exists()
    done = client.post("/schedule/book/", data | {"confirm": "on"})
    assert done.status_code == 302
    dosing, integration = Appointment.objects.order_by("pk")
    assert dosing.course_id == course.pk and integration.follows_id == dosing.pk
    assert dosing.starts_at == datetime(2027, 3, 1, 18, tzinfo=UTC)


def test_book_refuses_a_clash_with_every_reason(client, world):
    cedar = room(world.practice)
    book(world.therapist, world.client, room_id=cedar.pk)
    sign_in(client, world.therapist.user)
    data = {"kind": "therapy", "clients": [world.unreferred.pk], "starts_at": "2027-03-01T10:30",
            "room": cedar.pk}  # fmt: skip
    response = client.post("/schedule/book/", data)
    assert response.status_code == 422
    clashes = response.content.decode().split('data-testid="clashes"')[1].split("</section>")[0]
    assert clashes.count("<li") == 2 and "Room Cedar" in clashes
    assert world.client.legal_last_name not in clashes and "Therapy" not in clashes


def test_reschedule_and_cancel_pages(client, world, appt):
    sign_in(client, world.therapist.user)
    moved = client.post(f"/schedule/{appt.pk}/reschedule/",
                        {"starts_at": "2027-03-03T10:00", "version": 1})  # fmt: skip
    assert moved.status_code == 302
    new = Appointment.objects.get(rescheduled_from=appt)
    stale = client.post(f"/schedule/{new.pk}/cancel/", {"reason": "x", "version": 9})
    assert stale.status_code == 422
    missing = client.post(f"/schedule/{new.pk}/cancel/", {"reason": "", "version": 1})
    assert missing.status_code == 422
    assert (
        client.post(f"/schedule/{new.pk}/cancel/", {"reason": "Ill", "version": 1}).status_code
        == 302
    )
    new.refresh_from_db()
    assert new.status == "cancelled"


def test_availability_and_rooms_pages(client, world):
    sign_in(client, world.therapist.user)
    assert client.get("/schedule/availability/").status_code == 200
    added = client.post("/schedule/availability/", {"action": "add_rule", "rule-weekday": 0,
                                                    "rule-start_time": "09:00",
                                                    "rule-end_time": "17:00"})  # fmt: skip
    assert added.status_code == 302
    assert "Monday" in client.get("/schedule/availability/").content.decode()
    assert client.get("/schedule/rooms/").status_code == 404
    assert client.get(f"/schedule/availability/?member={world.therapist2.pk}").status_code == 404
    sign_in(client, world.admin.user)
    assert client.get(f"/schedule/availability/?member={world.therapist.pk}").status_code == 200
    assert (
        client.post(
            "/schedule/rooms/", {"action": "create", "name": "Oak", "capacity": 1}
        ).status_code
        == 302
    )
    assert "Oak" in client.get("/schedule/rooms/").content.decode()


@pytest.mark.parametrize(
    ("who", "expected"),
    [("therapist", 200), ("admin", 200), ("client_member", 200), ("companion", 404),
     ("biller", 404)],
)  # fmt: skip
def test_calendar_page_permission(client, world, who, expected):
    sign_in(client, getattr(world, who).user)
    assert client.get("/schedule/calendar/").status_code == expected


def test_calendar_page_creates_shows_once_and_revokes(client, world):
    book(world.therapist, world.client)
    sign_in(client, world.therapist.user)
    made = client.post("/schedule/calendar/", {"show_details": ""})
    page = made.content.decode()
    url = page.split('aria-label="Calendar link"')[0].rsplit('value="', 1)[1].split('"')[0]
    path = url.split("testserver", 1)[1]
    assert path.startswith("/schedule/feed/") and path.endswith(".ics")
    assert url not in client.get("/schedule/calendar/").content.decode()  # shown once
    client.logout()
    assert client.get(path).status_code == 200
    sign_in(client, world.therapist.user)
    assert client.post("/schedule/calendar/", {"action": "revoke"}).status_code == 302
    assert client.get(path).status_code == 404


def test_mark_page_records_completion_after_the_start(client, world):
    from datetime import timedelta

    from django.utils import timezone

    from kapflow.scheduling.models import AppointmentParticipant

    appt = book(world.therapist, world.client).first
    sign_in(client, world.therapist.user)
    early = client.post(f"/schedule/{appt.pk}/mark/", {"status": "completed", "version": 1})
    assert early.status_code == 302
    appt.refresh_from_db()
    assert appt.status == "scheduled"
    past = timezone.now() - timedelta(hours=2)
    Appointment.objects.filter(pk=appt.pk).update(starts_at=past, ends_at=past + timedelta(hours=1))
    AppointmentParticipant.objects.filter(appointment=appt).update(starts_at=past)
    client.post(f"/schedule/{appt.pk}/mark/", {"status": "completed", "version": 1})
    appt.refresh_from_db()
    assert appt.status == "completed"
    assert (
        sign_in(client, world.other_therapist.user)
        .post(f"/schedule/{appt.pk}/mark/", {"status": "no_show", "version": 2})
        .status_code
        == 404
    )


def test_admin_edits_scheduling_settings(client, world):
    from kapflow.scheduling.models import SchedulingSettings

    sign_in(client, world.admin.user)
    page = client.get("/schedule/rooms/").content.decode()
    assert "1440, 120" in page
    bad = client.post("/schedule/rooms/", {"action": "settings", "group_size_max": 4,
                                           "reminder_offsets": "a day"})  # fmt: skip
    assert bad.status_code == 422
    done = client.post("/schedule/rooms/", {"action": "settings", "group_size_max": 4,
                                            "reminder_offsets": "60, 1440", "reminder_sms": "on"})  # fmt: skip
    assert done.status_code == 302
    saved = SchedulingSettings.objects.get(organisation=world.practice)
    assert (saved.group_size_max, saved.reminder_offsets, saved.reminder_sms) == (
        4,
        [1440, 60],
        True,
    )
