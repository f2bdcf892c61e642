"""Fixes from the scheduling review: group sessions show only the clients the viewer may
see, named clinicians are on the care team, extreme dates never 5xx, any visible client is
bookable, the reschedule history is a fixed number of queries, a completed integration
session is recorded on the course, bounded ids, companion filter, no address in failure
logs, a neutral reminder sender, zones named."""

import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.audit.models import AuditEvent
from kapflow.courses import services as course_services
from kapflow.courses.models import CourseEvent, DueItem
from kapflow.patients.models import Companion
from kapflow.scheduling import selectors, services
from kapflow.scheduling.models import Appointment, AvailabilityException, SchedulingSettings
from kapflow.scheduling.reminders import reminders_send
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book
from tests.scheduling.test_api import URL, _post, _token

# ---- 3: a group session shows only the clients the viewer may see -------------------------


@pytest.fixture
def group(world):
    """A group integration session of world.client (the partner prescriber is on their team)
    and another client the prescriber does not care for."""
    other = ClientFactory(organisation=world.practice, legal_last_name="Zebedee-Hidden")
    on_team(other, world.therapist)
    appt = book(
        world.therapist, None, kind="integration", client_ids=[world.client.pk, other.pk]
    ).first
    return appt, other


def test_group_detail_page_hides_clients_the_viewer_cannot_see(client, world, group):
    appt, other = group
    mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    sign_in(client, world.prescriber.user)
    page = client.get(f"/schedule/{appt.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert other.legal_last_name not in text and f"/clients/{other.pk}/" not in text
    assert "another client" in text and world.client.display_name in text
    views = AuditEvent.objects.filter(action="appointment.view", pk__gt=mark)
    assert list(views.values_list("client_id", flat=True)) == [world.client.pk]
    # The therapist cares for both and sees both; one audit row per client shown.
    mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    sign_in(client, world.therapist.user)
    assert other.legal_last_name in client.get(f"/schedule/{appt.pk}/").content.decode()
    assert sorted(
        AuditEvent.objects.filter(action="appointment.view", pk__gt=mark).values_list(
            "client_id", flat=True
        )
    ) == sorted([world.client.pk, other.pk])


def test_group_api_read_hides_clients_the_viewer_cannot_see(client, world, group):
    appt, other = group
    got = client.get(f"{URL}/appointments/{appt.pk}", **_token(world.prescriber))
    assert got.status_code == 200
    body = got.content.decode()
    assert other.legal_last_name not in body and other.display_name not in body
    clients = [p for p in got.json()["participants"] if p["role"] == "client"]
    assert sorted(p["client_id"] or 0 for p in clients) == [0, world.client.pk]
    assert "another client" in [p["name"] for p in clients]


def test_group_in_the_week_hides_other_clients(client, world, group):
    appt, other = group
    # The prescriber is not a participant; the admin's view of the therapist's week shows all.
    sign_in(client, world.admin.user)
    text = client.get(f"/schedule/?week=2027-03-01&member={world.therapist.pk}").content.decode()
    assert other.legal_last_name in text
    seen = selectors.appointment_get_for_actor(actor=world.prescriber, appointment_id=appt.pk)
    shown = {p.client_id: p.shown for p in seen.participants.all() if p.client_id}
    assert shown == {world.client.pk: True, other.pk: False}


# ---- 4: every named clinician is on each client's care team -------------------------------


def test_booking_refuses_a_therapist_not_on_the_care_team(world):
    with pytest.raises(ValidationError) as caught:
        book(world.admin, world.client, therapist_id=world.therapist2.pk)
    assert "care team" in caught.value.message_dict["therapist"][0]
    assert not Appointment.objects.exists()


def test_booking_refuses_a_prescriber_not_on_the_care_team(world):
    with pytest.raises(ValidationError) as caught:
        book(world.therapist, world.unreferred, prescriber_id=world.prescriber.pk)
    assert "care team" in caught.value.message_dict["prescriber"][0]
    # An ended care-team membership does not count.
    from kapflow.patients.models import CareTeamMember

    CareTeamMember.objects.filter(client=world.client, membership=world.prescriber).update(
        ended_at=at(2026, 1, 1, 0)
    )
    with pytest.raises(ValidationError):
        book(world.therapist, world.client, prescriber_id=world.prescriber.pk)


def test_group_booking_needs_the_clinician_on_every_clients_team(client, world):
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist2)
    response = _post(
        client,
        "/appointments",
        {
            "kind": "integration",
            "starts_at": "2027-03-01T10:00:00-08:00",
            "telehealth": True,
            "client_ids": [world.client.pk, other.pk],
            "therapist_id": world.therapist.pk,
        },
        _token(world.admin),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "therapist"


# ---- 5: dates near year 1 and 9999 never 5xx -------------------------------------------------


EXTREMES = ["0001-01-01", "0001-01-02", "1900-06-15", "9999-12-27", "9999-12-31"]


@pytest.mark.parametrize("day", EXTREMES)
def test_extreme_dates_never_5xx_on_pages(client, world, day):
    appt = book(world.therapist, world.client).first
    sign_in(client, world.therapist.user)
    session = client.session
    assert client.get(f"/schedule/?week={day}").status_code == 200
    for time in ("00:00", "23:59"):
        posted = client.post(
            "/schedule/book/",
            {
                "kind": "therapy",
                "clients": [world.client.pk],
                "starts_at": f"{day}T{time}",
                "telehealth": "on",
            },
        )
        assert posted.status_code == 422, posted.status_code
        assert "starts_at" in posted.context["form"].errors
        moved = client.post(
            f"/schedule/{appt.pk}/reschedule/",
            {"starts_at": f"{day}T{time}", "version": appt.version},
        )
        assert moved.status_code == 422
        off = client.post(
            "/schedule/availability/",
            {
                "action": "add_exception",
                "off-starts_at": f"{day}T{time}",
                "off-ends_at": "2027-03-02T10:00",
            },
        )
        assert off.status_code == 422
        off = client.post(
            "/schedule/availability/",
            {
                "action": "add_exception",
                "off-starts_at": "2027-03-01T10:00",
                "off-ends_at": f"{day}T{time}",
            },
        )
        assert off.status_code == 422
    assert session is not None and not AvailabilityException.objects.exists()


@pytest.mark.parametrize("day", EXTREMES)
@pytest.mark.parametrize("offset", ["Z", "+14:00", "-12:00"])
def test_extreme_dates_never_5xx_on_the_api(client, world, day, offset):
    h = _token(world.therapist)
    appt = book(world.therapist, world.client).first
    for time in ("00:00:00", "23:59:00"):
        when = f"{day}T{time}{offset}"
        listed = client.get(
            f"{URL}/appointments", {"start": when, "end": "2027-03-08T00:00:00Z"}, **h
        )
        assert listed.status_code == 422, listed.content
        listed = client.get(
            f"{URL}/appointments", {"start": "2027-03-01T00:00:00Z", "end": when}, **h
        )
        assert listed.status_code == 422, listed.content
        booked = _post(
            client,
            "/appointments",
            {
                "kind": "therapy",
                "starts_at": when,
                "telehealth": True,
                "client_ids": [world.client.pk],
            },
            h,
        )
        assert booked.status_code == 422 and booked.json()["errors"][0]["field"] == "starts_at"
        moved = _post(
            client,
            f"/appointments/{appt.pk}/reschedule",
            {"version": appt.version, "starts_at": when},
            h,
        )
        assert moved.status_code == 422, moved.content
        off = _post(
            client,
            f"/availability/{world.therapist.pk}/exceptions",
            {"starts_at": "2027-03-01T10:00:00Z", "ends_at": when},
            h,
        )
        assert off.status_code == 422 and off.json()["errors"][0]["field"] == "ends_at"
        off = _post(
            client,
            f"/availability/{world.therapist.pk}/exceptions",
            {"starts_at": when, "ends_at": "2027-03-02T10:00:00Z"},
            h,
        )
        assert off.status_code == 422 and off.json()["errors"][0]["field"] == "starts_at"
    assert not AvailabilityException.objects.exists()


def test_exception_service_bounds_dates(world):
    from datetime import UTC, datetime

    with pytest.raises(ValidationError) as caught:
        services.availability_exception_add(
            actor=world.therapist,
            membership_id=world.therapist.pk,
            starts_at=datetime(2027, 3, 1, tzinfo=UTC),
            ends_at=datetime(9999, 12, 31, tzinfo=UTC),
        )
    assert "ends_at" in caught.value.message_dict


# ---- 6: any visible client is bookable -------------------------------------------------------


def test_a_client_beyond_the_listed_choices_can_be_booked(client, world):
    late = ClientFactory(organisation=world.practice, legal_last_name="Zzzz-Last")
    on_team(late, world.therapist)
    sign_in(client, world.therapist.user)
    with mock.patch("kapflow.scheduling.views.CLIENT_CHOICES_MAX", 1):
        page = client.get("/schedule/book/")
        assert f'value="{late.pk}"' not in page.content.decode()
        posted = client.post(
            "/schedule/book/",
            {
                "kind": "therapy",
                "clients": [late.pk],
                "starts_at": "2027-03-01T10:00",
                "telehealth": "on",
                "confirm": "on",
            },
        )
        assert posted.status_code == 302, posted.context["form"].errors
        # A client the actor may not see stays refused.
        refused = client.post(
            "/schedule/book/",
            {
                "kind": "therapy",
                "clients": [world.other_client.pk],
                "starts_at": "2027-03-02T10:00",
                "telehealth": "on",
                "confirm": "on",
            },
        )
        assert refused.status_code == 422
    assert Appointment.objects.get().participants.filter(client=late).exists()


# ---- 8: the reschedule history is a fixed number of queries ----------------------------------


def _detail_queries(client, appt_id) -> int:
    client.get(f"/schedule/{appt_id}/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/schedule/{appt_id}/").status_code == 200
    return len(queries)


def test_history_query_count_does_not_grow_with_reschedules(client, world):
    appt = book(world.therapist, world.client).first
    sign_in(client, world.therapist.user)
    counts, ids = [_detail_queries(client, appt.pk)], [appt.pk]
    for step in range(1, 5):
        appt = services.appointment_reschedule(
            actor=world.therapist,
            appointment_id=appt.pk,
            version=appt.version,
            starts_at=at(2027, 3, 1 + step, 10),
            confirm=True,
        ).first
        ids.append(appt.pk)
        counts.append(_detail_queries(client, appt.pk))
    assert len(set(counts)) == 1, counts
    history = selectors.appointment_history(appointment=Appointment.objects.get(pk=appt.pk))
    assert [h.pk for h in history] == list(reversed(ids[:-1]))
    assert set(Appointment.objects.filter(pk__in=ids[1:]).values_list("root_id", flat=True)) == {
        ids[0]
    }
    middle = Appointment.objects.get(pk=ids[2])
    assert [h.pk for h in selectors.appointment_history(appointment=middle)] == [ids[1], ids[0]]


# ---- 9: a completed integration session is recorded on the course ---------------------------


def _dosed_course(client, therapist, when):
    course = make_course(client, therapist, stage="active")
    CourseEvent.objects.create(
        organisation=course.organisation, course=course, kind="dosing", occurred_at=when
    )
    course_services.due_items_refresh(course_id=course.pk, now=when + timedelta(hours=1))
    assert DueItem.objects.filter(
        course=course, code="integration.due", resolved_at__isnull=True
    ).exists()
    return course


def test_marking_an_integration_session_completed_records_it_on_the_course(world):
    start = at(2027, 3, 2, 10)
    course = _dosed_course(world.client, world.therapist, start - timedelta(days=1))
    appt = book(
        world.therapist, None, kind="integration", course_ids=[course.pk], starts_at=start
    ).first
    marked = services.appointment_mark(
        actor=world.therapist,
        appointment_id=appt.pk,
        version=appt.version,
        status="completed",
        now=start + timedelta(hours=1),
    )
    assert marked.integration_skipped == []
    event = CourseEvent.objects.get(course=course, kind="integration")
    assert event.occurred_at == start and f"#{appt.pk}" in event.reason
    assert not DueItem.objects.filter(
        course=course, code="integration.due", resolved_at__isnull=True
    ).exists()


def test_a_group_integration_skips_a_course_that_refuses_and_says_so(world):
    start = at(2027, 3, 2, 10)
    dosed = _dosed_course(world.client, world.therapist, start - timedelta(days=1))
    fresh = make_course(world.unreferred, world.therapist, stage="active")  # no dosing yet
    appt = book(
        world.therapist, None, kind="integration", course_ids=[dosed.pk, fresh.pk], starts_at=start
    ).first
    marked = services.appointment_mark(
        actor=world.therapist,
        appointment_id=appt.pk,
        version=appt.version,
        status="completed",
        now=start + timedelta(hours=1),
    )
    assert marked.status == "completed"
    assert CourseEvent.objects.filter(course=dosed, kind="integration").exists()
    assert not CourseEvent.objects.filter(course=fresh, kind="integration").exists()
    assert len(marked.integration_skipped) == 1 and f"#{fresh.pk}" in marked.integration_skipped[0]


def test_no_show_records_nothing_on_the_course(world):
    start = at(2027, 3, 2, 10)
    course = _dosed_course(world.client, world.therapist, start - timedelta(days=1))
    appt = book(
        world.therapist, None, kind="integration", course_ids=[course.pk], starts_at=start
    ).first
    services.appointment_mark(
        actor=world.therapist,
        appointment_id=appt.pk,
        version=appt.version,
        status="no_show",
        reason="The client did not come.",
        now=start + timedelta(hours=1),
    )
    assert not CourseEvent.objects.filter(course=course, kind="integration").exists()


# ---- 10: ids are bounded -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["client_ids", "course_ids"])
def test_huge_ids_are_422(client, world, field):
    response = _post(
        client,
        "/appointments",
        {
            "kind": "therapy",
            "starts_at": "2027-03-01T10:00:00-08:00",
            "telehealth": True,
            field: [10**30],
        },
        _token(world.therapist),
    )
    assert response.status_code == 422


# ---- 12: one companion row -------------------------------------------------------------------


def test_upcoming_for_companion_filters_to_one_companion_row(world):
    mine = Companion.objects.get(user=world.companion.user, client=world.client)
    second = ClientFactory(organisation=world.practice)
    on_team(second, world.therapist)
    theirs = Companion.objects.create(
        organisation=world.practice, client=second, user=world.companion.user
    )
    c1 = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    c2 = make_course(second, world.therapist, stage="active", delivery="at_home")
    book(world.therapist, None, kind="dosing", course_ids=[c1.pk], starts_at=at(2027, 3, 1, 9))
    book(world.therapist, None, kind="dosing", course_ids=[c2.pk], starts_at=at(2027, 3, 2, 9))
    assert len(selectors.upcoming_for_companion(actor=world.companion)) == 2
    [one] = selectors.upcoming_for_companion(actor=world.companion, companion_id=mine.pk)
    assert one.starts_at == at(2027, 3, 1, 9)
    [two] = selectors.upcoming_for_companion(actor=world.companion, companion_id=theirs.pk)
    assert two.starts_at == at(2027, 3, 2, 9)
    stranger = Companion.objects.create(
        organisation=world.practice, client=second, user=member(world.practice, "companion").user
    )
    assert selectors.upcoming_for_companion(actor=world.companion, companion_id=stranger.pk) == []


# ---- 14: no address in failure logs ----------------------------------------------------------


class _Refusing:
    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        pass

    def close(self):
        pass

    def send_messages(self, messages):
        raise OSError(f"550 mailbox unavailable: {messages[0].to[0]}")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_a_failed_send_logs_no_address(world, settings):
    # (The suite runs with -p no:logging, so no caplog: a handler of our own.)
    settings.EMAIL_BACKEND = f"{__name__}._Refusing"
    appt = book(world.therapist, world.client).first
    handler, logger = _Records(), logging.getLogger("kapflow.scheduling.reminders")
    logger.addHandler(handler)
    try:
        assert reminders_send(now=appt.starts_at - timedelta(hours=23)) == 0
    finally:
        logger.removeHandler(handler)
    failures = [r for r in handler.records if r.getMessage() == "reminder.send_failed"]
    assert len(failures) == 2 and all(r.error == "OSError" for r in failures)
    assert all(r.exc_info is None and r.exc_text is None for r in handler.records)
    text = " ".join(str(vars(r)) + logging.Formatter().format(r) for r in handler.records)
    for address in (world.client_member.user.email, world.therapist.user.email):
        assert address not in text


# ---- 17: a neutral reminder sender name ------------------------------------------------------


def test_reminders_use_the_sender_name(world, settings):
    settings.KAPFLOW_SMS_BACKEND = "kapflow.scheduling.sms.LocmemBackend"
    from kapflow.scheduling.sms import LocmemBackend

    LocmemBackend.outbox = []
    world.practice.name = "Oregon Ketamine Clinic"
    world.practice.save()
    world.client.phone = "503-555-0100"
    world.client.save()
    services.scheduling_settings_update(
        actor=world.admin,
        group_size_max=6,
        reminder_offsets=[1440],
        reminder_sms=True,
        reminder_sender_name="  Riverside Health  ",
    )
    appt = book(world.therapist, world.client).first
    assert reminders_send(now=appt.starts_at - timedelta(hours=23)) == 3
    bodies = [m.body for m in mail.outbox] + [b for _, b in LocmemBackend.outbox]
    assert all("Riverside Health" in b and "Ketamine" not in b for b in bodies)


def test_blank_sender_name_uses_the_practice_name(world):
    SchedulingSettings.objects.create(organisation=world.practice, reminder_sender_name="")
    appt = book(world.therapist, world.client).first
    reminders_send(now=appt.starts_at - timedelta(hours=23))
    assert mail.outbox and all(world.practice.name in m.body for m in mail.outbox)


def test_sender_name_is_editable_on_the_rooms_page(client, world):
    sign_in(client, world.admin.user)
    page = client.get("/schedule/rooms/").content.decode()
    assert "reminder_sender_name" in page and "neutral" in page
    saved = client.post(
        "/schedule/rooms/",
        {
            "action": "settings",
            "group_size_max": 6,
            "reminder_offsets": "1440",
            "reminder_sender_name": "Riverside Health",
        },
    )
    assert saved.status_code == 302
    assert (
        SchedulingSettings.objects.get(organisation=world.practice).reminder_sender_name
        == "Riverside Health"
    )


# ---- 16: every page showing times names the zone ---------------------------------------------


def test_pages_with_times_name_the_zone(client, world):
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    appt = book(world.therapist, None, kind="dosing", course_ids=[course.pk]).first
    services.availability_exception_add(
        actor=world.therapist,
        membership_id=world.therapist.pk,
        starts_at=at(2027, 3, 3, 9),
        ends_at=at(2027, 3, 3, 12),
    )
    sign_in(client, world.therapist.user)
    for url in (
        "/schedule/?week=2027-03-01",
        f"/schedule/{appt.pk}/",
        "/schedule/availability/",
        f"/schedule/{appt.pk}/reschedule/",
        f"/schedule/{appt.pk}/cancel/",
    ):
        text = client.get(url).content.decode()
        assert "America/Los_Angeles" in text or "PST" in text, url
    course_page = client.get(f"/courses/{course.pk}/").content.decode()
    assert (
        'data-testid="course-appointments-zone"' in course_page
        and "America/Los_Angeles" in course_page
    )
    sign_in(client, world.client_member.user)
    assert "America/Los_Angeles" in client.get("/schedule/mine/").content.decode()
    sign_in(client, world.companion.user)
    assert "America/Los_Angeles" in client.get("/schedule/companion/").content.decode()


def test_the_mark_page_says_which_course_was_skipped(client, world):
    fresh = make_course(world.unreferred, world.therapist, stage="active")  # no dosing yet
    appt = book(world.therapist, None, kind="integration", course_ids=[fresh.pk]).first
    Appointment.objects.filter(pk=appt.pk).update(
        starts_at=appt.starts_at - timedelta(days=200), ends_at=appt.ends_at - timedelta(days=200)
    )
    sign_in(client, world.therapist.user)
    page = client.post(
        f"/schedule/{appt.pk}/mark/", {"version": 1, "status": "completed"}, follow=True
    )
    text = page.content.decode()
    assert "Completed." in text and f"Course #{fresh.pk}" in text and "not recorded" in text
    assert Appointment.objects.get(pk=appt.pk).status == "completed"
