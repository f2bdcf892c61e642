"""An assessment's due date is bounded (issue 12): not in the past, at most two years ahead.
Refused with the field named and nothing saved."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from kapflow.assessments import services
from kapflow.assessments.models import Assignment

UTC = datetime.UTC
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime.datetime(1, 1, 1, tzinfo=UTC), False),
        (NOW - datetime.timedelta(days=1), False),
        (NOW + datetime.timedelta(hours=1), True),
        (datetime.datetime(2029, 3, 10, 20, tzinfo=UTC), True),
        (datetime.datetime(2029, 3, 11, 20, tzinfo=UTC), False),
        (datetime.datetime(9999, 12, 31, 23, 59, tzinfo=UTC), False),
    ],
)  # fmt: skip
def test_a_due_date_is_ahead_but_within_two_years(world, value, ok):
    def assign():
        return services.assignment_create(
            actor=world.therapist, client_id=world.client.pk, instrument="phq9", due_at=value
        )

    if ok:
        assert assign().due_at == value
        return
    with pytest.raises(ValidationError) as exc:
        assign()
    assert set(exc.value.message_dict) == {"due_at"}
    assert not Assignment.objects.exists()
