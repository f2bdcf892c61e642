"""A prescriber's dose authorisation is for the next session only, and the latest one wins
(decision 0030); shared scores carry the practice's date (decision 0027)."""

import datetime
from decimal import Decimal

import pytest

from kapflow.assessments import services as assessment_services
from kapflow.clinical.course import DoseDay
from kapflow.core.errors import GateBlocked
from kapflow.courses import services as course_services
from kapflow.prescriptions import services
from kapflow.prescriptions.models import DoseUse, Prescription
from tests.encounters.factories import ready_course

UTC = datetime.UTC
T0 = datetime.datetime(2027, 3, 10, 18, 0, tzinfo=UTC)  # 10:00 in Oregon
DAY = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True)


@pytest.fixture
def course(world, time_machine):
    time_machine.move_to(T0, tick=False)
    return ready_course(world.client, world.therapist, world.prescriber, doses=4)


def _authorise(world, rx, amount, reason):
    services.dose_authorise(
        actor=world.prescriber, prescription_id=rx.pk, amount_mg=Decimal(amount), reason=reason
    )


def test_a_newer_authorisation_supersedes_an_older_unused_one(world, course, time_machine):
    rx = Prescription.objects.get(course=course)
    _authorise(world, rx, "400", "Step up to 400 mg for the next session.")
    _authorise(world, rx, "250", "On reflection, only 250 mg for the next session.")
    # The 400 is superseded: this session may have 250 at most.
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=DAY, amount_mg=Decimal("400")
        )
    assert [r.code for r in exc.value.reasons] == ["dose.above_prescription"]
    course_services.dosing_start(
        actor=world.therapist, course_id=course.pk, day=DAY, amount_mg=Decimal("250")
    )
    # The next session is back to the prescription's 200 mg: the old 400 never comes back.
    time_machine.move_to(T0 + datetime.timedelta(hours=25), tick=False)
    with pytest.raises(GateBlocked):
        course_services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=DAY, amount_mg=Decimal("400")
        )
    assert not DoseUse.objects.filter(course=course, amount_mg=Decimal("400")).exists()


def test_a_shared_score_is_dated_by_the_practices_day(world, time_machine):
    evening = datetime.datetime(2027, 3, 11, 3, 30, tzinfo=UTC)  # 19:30 in Oregon, 10 March
    time_machine.move_to(evening, tick=False)
    assessment_services.response_enter(
        actor=world.therapist,
        client_id=world.client.pk,
        instrument="phq9",
        answers={f"phq9_{i}": 1 for i in range(1, 10)} | {"phq9_9": 0, "phq9_difficulty": 0},
    )
    snapshot = services._score_snapshot(world.client.pk)
    assert [s["on"] for s in snapshot] == ["2027-03-10"]
