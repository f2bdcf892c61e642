"""The panels other pages include: a course's, a client's and a companion's upcoming
appointments, and today's count on the staff home."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kapflow.core.errors import NotFound
from kapflow.scheduling import selectors
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book


def test_upcoming_for_course_includes_group_sessions(world):
    course = make_course(world.client, world.therapist, stage="active")
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    theirs = make_course(other, world.therapist, stage="active")
    single = book(world.therapist, None, kind="preparation", course_ids=[course.pk]).first
    group = book(world.therapist, None, kind="integration", course_ids=[course.pk, theirs.pk],
                 starts_at=at(2027, 3, 2, 10)).first  # fmt: skip
    rows = selectors.upcoming_for_course(actor=world.therapist, course=course)
    assert [a.pk for a in rows] == [single.pk, group.pk]
    assert selectors.upcoming_for_course(actor=world.biller, course=course) == []


def test_the_video_link_shows_only_close_to_the_time(world):
    now = timezone.now()
    soon = book(world.therapist, world.client, starts_at=now + timedelta(hours=3),
                telehealth_url="https://video.example/a").first  # fmt: skip
    later = book(world.therapist, world.client, starts_at=now + timedelta(days=3),
                 telehealth_url="https://video.example/b").first  # fmt: skip
    rows = {r.id: r for r in selectors.upcoming_for_client(actor=world.client_member)}
    assert rows[soon.pk].telehealth_url == "https://video.example/a"
    assert rows[later.pk].telehealth_url == ""
    with pytest.raises(NotFound):
        selectors.upcoming_for_client(actor=world.therapist)


def test_companion_rows_hold_only_times(world):
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    book(world.therapist, None, kind="dosing", course_ids=[course.pk])
    (row,) = selectors.upcoming_for_companion(actor=world.companion)
    # Times, and what the link to the session room needs (decision 0049): nothing clinical,
    # no client name, kind, course or note.
    assert set(vars(row)) == {
        "starts_at", "ends_at", "id", "telehealth", "organisation_id", "telehealth_url",
    }  # fmt: skip
    assert row.telehealth_url == ""
    with pytest.raises(NotFound):
        selectors.upcoming_for_companion(actor=world.client_member)


def test_today_count(world):
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    book(world.therapist, world.client, starts_at=now + timedelta(days=1))
    count = selectors.today_count_for_member
    tomorrow = now + timedelta(days=1, hours=-11)
    assert count(actor=world.therapist, zone_name="UTC", now=tomorrow) == 1
    assert count(actor=world.therapist, zone_name="UTC", now=now) == 0
    assert count(actor=world.biller, zone_name="UTC") == 0


def test_demo_schedule_books_through_the_services_once(world):
    from kapflow.scheduling.demo import load_demo_schedule
    from kapflow.scheduling.models import Appointment

    make_course(world.client, world.therapist, stage="active")
    make_course(world.unreferred, world.therapist, stage="preparation")
    made = load_demo_schedule(practice=world.practice)["appointments"]
    assert made == 3  # a dosing session with its integration, and a preparation session
    assert load_demo_schedule(practice=world.practice)["appointments"] == 0
    assert Appointment.objects.count() == 3
