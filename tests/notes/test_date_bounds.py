"""A note's session date is bounded (issue 12): not before the client's birth or the start of
their record, not after the practice's today; refused with the field named and nothing
saved, through the service and the API."""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services as account_services
from kapflow.audit.models import AuditEvent
from kapflow.notes import services
from kapflow.notes.models import Note
from kapflow.patients.models import Client
from tests.conftest import sign_in
from tests.courses.factories import make_course

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
# 20:00 UTC is noon in Oregon (the practice's zone): one date everywhere that matters.
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)
TODAY = datetime.date(2027, 3, 10)
BORN = datetime.date(1985, 6, 1)
RECORD_BEGAN = datetime.date(2026, 1, 12)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def chart(world):
    """world.client's record began on RECORD_BEGAN (noon in Oregon)."""
    began = datetime.datetime(2026, 1, 12, 20, tzinfo=UTC)
    Client.objects.filter(pk=world.client.pk).update(created_at=began, date_of_birth=BORN)
    world.client.refresh_from_db()
    return world.client


EXTREMES = [
    (datetime.date(1, 1, 1), False),
    (BORN - DAY, False),
    (RECORD_BEGAN - DAY, False),
    (RECORD_BEGAN, True),
    (TODAY, True),
    (TODAY + DAY, False),
    (datetime.date(9999, 12, 31), False),
]


@pytest.mark.parametrize(("value", "ok"), EXTREMES)
def test_a_notes_session_date_is_bounded(world, chart, value, ok):
    def create():
        return services.note_create(
            actor=world.therapist, client_id=chart.pk, session_type="therapy",
            session_date=value,
        )  # fmt: skip

    if ok:
        assert create().session_date == value
        return
    with pytest.raises(ValidationError) as exc:
        create()
    assert set(exc.value.message_dict) == {"session_date"}
    assert not Note.objects.exists()
    assert not AuditEvent.objects.filter(action="note.create").exists()


def test_a_course_opened_before_the_chart_moves_the_start_back(world, chart):
    # A course brought over from before the chart was created: its sessions may be noted.
    opened = datetime.datetime(2025, 9, 1, 20, tzinfo=UTC)
    course = make_course(chart, world.therapist, opened_at=opened)
    note = services.note_create(
        actor=world.therapist, client_id=chart.pk, session_type="therapy",
        course_id=course.pk, session_date=datetime.date(2025, 9, 1),
    )  # fmt: skip
    assert note.session_date == datetime.date(2025, 9, 1)
    with pytest.raises(ValidationError) as exc:
        services.note_create(
            actor=world.therapist, client_id=chart.pk, session_type="therapy",
            course_id=course.pk, session_date=datetime.date(2025, 8, 31),
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"session_date"}


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.parametrize("value", ["0001-01-01", "2027-03-11", "9999-12-31"])
def test_the_api_refuses_an_unbounded_session_date_with_422_naming_it(client, world, chart,
                                                                      value):  # fmt: skip
    response = client.post(
        "/api/v1/notes",
        data=json.dumps({"client_id": chart.pk, "session_type": "therapy", "session_date": value}),
        content_type="application/json",
        **_token(world.therapist),
    )
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["session_date"]
    assert not Note.objects.exists()


def test_the_new_note_page_shows_the_refusal_beside_the_session_date(client, world, chart):
    sign_in(client, world.therapist.user)
    response = client.post(
        "/notes/new/",
        {"client": chart.pk, "session_type": "therapy", "format": "dap", "kind": "progress",
         "session_date": "9999-12-31"},
    )  # fmt: skip
    assert response.status_code == 422
    assert list(response.context["form"].errors) == ["session_date"]
    assert "This date cannot be in the future." in response.content.decode()
    assert not Note.objects.exists()
