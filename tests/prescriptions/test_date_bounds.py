"""The prescribing side's typed dates are bounded (issue 12): the evaluation's date and its
booking, the date a prescription was written, a fill's shipping and receipt, and the day a
client logs a dose. Each is refused at the extremes with the field named and nothing saved."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from kapflow.prescriptions import services
from kapflow.prescriptions.models import Dispense, DoseUse, Prescription, Referral
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.prescriptions.factories import CLEAN_CHECKLIST, evaluate, prescribe, refer

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
# 20:00 UTC is noon in Oregon (the practice's zone): one date everywhere that matters.
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)
TODAY = datetime.date(2027, 3, 10)
BORN = datetime.date(1985, 6, 1)  # tests.patients.factories.ClientFactory
OPENED = datetime.date(2026, 1, 12)
SENT = datetime.date(2026, 2, 2)
CLEARED = datetime.date(2026, 6, 1)
YEAR_1 = datetime.date(1, 1, 1)
YEAR_9999 = datetime.date(9999, 12, 31)


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def _course(world, stage, **fields):
    return make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage=stage,
        opened_at=noon(OPENED), **fields,
    )  # fmt: skip


def _refused(exc, field):
    assert set(exc.value.message_dict) == {field}


# ---- the evaluation: its booking and its date ----------------------------------------------


@pytest.fixture
def referral(world):
    course = _course(world, "medical_evaluation")
    return refer(course, world.prescriber, status="accepted", sent_at=noon(SENT))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime.datetime(1, 1, 1, tzinfo=UTC), False),
        (noon(BORN - DAY), False),
        (noon(SENT - DAY), False),
        (noon(SENT), True),
        (noon(TODAY), True),
        (noon(TODAY + DAY), True),
        (noon(datetime.date(2029, 3, 10)), True),
        (noon(datetime.date(2029, 3, 11)), False),
        (datetime.datetime(9999, 12, 31, 23, 59, tzinfo=UTC), False),
    ],
)  # fmt: skip
def test_an_evaluation_is_booked_from_the_referral_to_two_years_ahead(world, referral, value,
                                                                      ok):  # fmt: skip
    def schedule():
        return services.referral_schedule(
            actor=world.prescriber, referral_id=referral.pk, scheduled_for=value
        )

    if ok:
        assert schedule().scheduled_for == value
        return
    with pytest.raises(ValidationError) as exc:
        schedule()
    _refused(exc, "scheduled_for")
    referral.refresh_from_db()
    assert (referral.status, referral.scheduled_for) == ("accepted", None)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(YEAR_1, False), (BORN - DAY, False), (SENT - DAY, False), (SENT, True), (TODAY, True),
     (TODAY + DAY, False), (YEAR_9999, False)],
)  # fmt: skip
def test_an_evaluation_is_dated_from_the_referral_to_today(world, referral, value, ok):
    evaluation = evaluate(referral.course, world.prescriber, complete=False, referral=referral)

    def save():
        return services.evaluation_save(
            actor=world.prescriber, evaluation_id=evaluation.pk,
            data={"evaluated_on": value, "bp_systolic": 122, "bp_diastolic": 78,
                  "pregnancy": "not_applicable", "ongoing_therapy": True},
            medications=[], checklist=CLEAN_CHECKLIST, version=evaluation.version,
        )  # fmt: skip

    if ok:
        assert save().evaluated_on == value
        return
    with pytest.raises(ValidationError) as exc:
        save()
    _refused(exc, "evaluated_on")
    evaluation.refresh_from_db()
    assert (evaluation.version, evaluation.bp_systolic) == (1, None)


# ---- the prescription ------------------------------------------------------------------------

RX = {
    "product": "ketamine_sl_rdt", "strength_mg": Decimal("100"), "dose_mg": Decimal("200"),
    "quantity": 2, "refills": 1, "pharmacy_name": "Cedar Compounding",
    "dea_number": "AB1234563",
}  # fmt: skip


@pytest.mark.parametrize(
    ("value", "ok"),
    [(YEAR_1, False), (BORN - DAY, False), (OPENED - DAY, False), (CLEARED - DAY, False),
     (CLEARED, True), (TODAY, True), (TODAY + DAY, False), (YEAR_9999, False)],
)  # fmt: skip
def test_a_prescription_is_written_from_the_eligibility_decision_to_today(world, value, ok):
    course = _course(world, "eligible", clearance_on=CLEARED)

    def issue():
        return services.prescription_issue(
            actor=world.prescriber, course_id=course.pk, written_on=value, **RX
        )

    if ok:
        assert issue().written_on == value
        return
    with pytest.raises(ValidationError) as exc:
        issue()
    _refused(exc, "written_on")
    assert not Prescription.objects.exists()


# ---- a fill's shipping and receipt ----------------------------------------------------------

WRITTEN = datetime.date(2027, 3, 1)


@pytest.mark.parametrize("field", ["shipped_on", "received_on"])
@pytest.mark.parametrize(
    ("value", "ok"),
    [(YEAR_1, False), (WRITTEN - DAY, False), (WRITTEN, True), (TODAY, True),
     (TODAY + DAY, False), (YEAR_9999, False)],
)  # fmt: skip
def test_a_fill_is_shipped_and_received_from_dispensing_to_today(world, field, value, ok):
    course = _course(world, "active", doses=0)
    prescription = prescribe(course, world.prescriber, doses=0, quantity=2, written_on=WRITTEN)
    dates = {"shipped_on": value} if field == "shipped_on" else {
        "shipped_on": WRITTEN, "received_on": value}  # fmt: skip

    def fill():
        return services.dispense_record(
            actor=world.prescriber, prescription_id=prescription.pk, quantity=2,
            dispensed_on=WRITTEN, **dates,
        )  # fmt: skip

    if ok:
        assert getattr(fill(), field) == value
        return
    with pytest.raises(ValidationError) as exc:
        fill()
    _refused(exc, field)
    assert not Dispense.objects.exists()


# ---- the client's daily dose ----------------------------------------------------------------

STARTED = TODAY - 3 * DAY


@pytest.mark.parametrize(
    ("value", "ok"),
    [(YEAR_1, False), (STARTED - DAY, False), (STARTED, True), (TODAY, True),
     (TODAY + DAY, False), (YEAR_9999, False)],
)  # fmt: skip
def test_a_dose_is_logged_from_the_course_opening_to_today(world, value, ok):
    # A course opened three days ago: the seven-day window alone would allow earlier days.
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="active",
        pathway="low_dose", delivery="at_home", doses=0, opened_at=noon(STARTED),
    )  # fmt: skip
    prescribe(course, doses=10, quantity=10, written_on=STARTED)

    def log():
        return services.dose_log(actor=world.client_member, course_id=course.pk, taken_on=value)

    if ok:
        assert log().taken_on == value
        return
    with pytest.raises(ValidationError) as exc:
        log()
    _refused(exc, "taken_on")
    assert not DoseUse.objects.exists()


def test_no_referral_row_changes_when_a_booking_is_refused(world, referral):
    before = list(Referral.objects.values_list("pk", "status", "scheduled_for"))
    with pytest.raises(ValidationError):
        services.referral_schedule(
            actor=world.prescriber, referral_id=referral.pk,
            scheduled_for=datetime.datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        )  # fmt: skip
    assert list(Referral.objects.values_list("pk", "status", "scheduled_for")) == before


@pytest.mark.parametrize("value", ["0001-01-01", "2027-03-11", "9999-12-31"])
def test_the_dose_log_page_shows_the_refusal_beside_the_day(client, world, value):
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="active",
        pathway="low_dose", delivery="at_home", doses=0, opened_at=noon(STARTED),
    )  # fmt: skip
    prescribe(course, doses=10, quantity=10, written_on=STARTED)
    sign_in(client, world.client_member.user)
    response = client.post("/prescribing/mine/doses/", {"taken_on": value})
    assert response.status_code == 422
    assert list(response.context["form"].errors) == ["taken_on"]
    assert not DoseUse.objects.exists()
