"""A course's typed dates are bounded (issue 12): what is recorded on its timeline and the
clearance date lie between the course's opening and the practice's today. Refused with the
field named (service and API) and nothing saved."""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services as account_services
from kapflow.courses import services
from kapflow.courses.models import Course, CourseEvent
from tests.courses.factories import make_course

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
# 20:00 UTC is noon in Oregon (the practice's zone): one date everywhere that matters.
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)
TODAY = datetime.date(2027, 3, 10)
BORN = datetime.date(1985, 6, 1)  # tests.patients.factories.ClientFactory
OPENED = datetime.date(2026, 1, 12)
YEAR_1 = datetime.date(1, 1, 1)
YEAR_9999 = datetime.date(9999, 12, 31)


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def _course(world, stage):
    return make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage=stage,
        opened_at=noon(OPENED),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime.datetime(1, 1, 1, tzinfo=UTC), False),
        (noon(BORN - DAY), False),
        (noon(OPENED - DAY), False),
        (noon(OPENED), True),
        (NOW - datetime.timedelta(minutes=1), True),
        (noon(TODAY + DAY), False),
        (datetime.datetime(9999, 12, 31, 23, 59, tzinfo=UTC), False),
    ],
)  # fmt: skip
def test_a_record_on_the_timeline_lies_between_the_opening_and_now(world, value, ok):
    course = _course(world, "eligible")
    events = CourseEvent.objects.count()

    def record():
        return services.course_record(
            actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=False,
            occurred_at=value,
        )  # fmt: skip

    if ok:
        assert record().occurred_at == value
        return
    with pytest.raises(ValidationError) as exc:
        record()
    assert set(exc.value.message_dict) == {"occurred_at"}
    assert CourseEvent.objects.count() == events


def test_a_time_the_practices_zone_cannot_hold_is_refused_naming_the_field(world):
    # 00:00 UTC on 1 January of year 1 is still year 0 in Oregon.
    course = _course(world, "eligible")
    with pytest.raises(ValidationError) as exc:
        services.course_record(
            actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=False,
            occurred_at=datetime.datetime(1, 1, 1, tzinfo=UTC),
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"occurred_at"}


@pytest.mark.parametrize(
    ("value", "ok"),
    [(YEAR_1, False), (BORN - DAY, False), (OPENED - DAY, False), (OPENED, True),
     (TODAY, True), (TODAY + DAY, False), (YEAR_9999, False)],
)  # fmt: skip
def test_the_clearance_date_lies_between_the_opening_and_today(world, value, ok):
    course = _course(world, "medical_evaluation")
    events = CourseEvent.objects.count()

    def decide():
        return services.course_workflow_step(
            actor=world.prescriber, course_id=course.pk, action="decide_eligible",
            clearance_on=value, clearance_valid_days=90,)  # fmt: skip

    if ok:
        assert decide().clearance_on == value
        return
    with pytest.raises(ValidationError) as exc:
        decide()
    assert set(exc.value.message_dict) == {"clearance_on"}
    course = Course.objects.get(pk=course.pk)
    assert (course.stage, course.clearance_on) == ("medical_evaluation", None)
    assert CourseEvent.objects.count() == events


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "2026-01-11T20:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_the_api_refuses_an_unbounded_record_with_422_naming_it(client, world, value):
    course = _course(world, "eligible")
    _, raw = account_services.api_token_create(
        actor=world.therapist, name="tests", mfa_verified=True
    )
    response = client.post(
        f"/api/v1/courses/{course.pk}/records",
        data=json.dumps({"kind": "risk_screen", "positive": False, "occurred_at": value}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["occurred_at"]
    assert not CourseEvent.objects.filter(kind="risk_screen").exists()
