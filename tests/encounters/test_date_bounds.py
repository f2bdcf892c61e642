"""A dose's time in a session is bounded (issue 12): a dose recorded over the API at the
extremes of the calendar, before the session started or in the future is a 422 naming
`occurred_at`, and nothing is recorded (no entry, no dose used)."""

import datetime
import json

import pytest

from kapflow.accounts import services as account_services
from kapflow.encounters.models import TimelineEntry
from kapflow.prescriptions.models import DoseUse
from tests.encounters.factories import ready_course, started

UTC = datetime.UTC
# 20:00 UTC is noon in Oregon (the practice's zone): one date everywhere that matters.
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "2027-03-09T20:00:00Z",
     "2027-03-11T20:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"],
)  # fmt: skip
def test_the_api_refuses_an_unbounded_dose_time_with_422_naming_it(client, world, value):
    course = ready_course(world.client, world.therapist, world.prescriber)
    session = started(world.therapist, course)
    entries = TimelineEntry.objects.count()
    _, raw = account_services.api_token_create(
        actor=world.therapist, name="tests", mfa_verified=True
    )
    response = client.post(
        f"/api/v1/sessions/{session.pk}/entries",
        data=json.dumps(
            {"kind": "dose", "route": "sublingual", "amount": "200", "occurred_at": value}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["occurred_at"]
    assert TimelineEntry.objects.count() == entries
    assert not DoseUse.objects.filter(source="session").exists()
