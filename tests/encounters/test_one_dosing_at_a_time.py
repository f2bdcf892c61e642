"""One dosing at a time, at the prescribed dose (decision 0030), on the database: a second
dosing while a session is in progress is refused on the course page, by the quick record and
by the API; a dosing too soon after the last dose is refused until the practice's interval
has passed; a dose, or a booster, above the prescription's per-session amount is refused
unless the course's prescriber authorised it for that session."""

import datetime
import json
from decimal import Decimal

import pytest

from kapflow.accounts import services as account_services
from kapflow.clinical.course import DoseDay
from kapflow.core.errors import GateBlocked, PermissionDenied
from kapflow.courses import services as course_services
from kapflow.courses.models import CourseEvent, GateSettings
from kapflow.encounters import services
from kapflow.encounters.models import TimelineEntry
from kapflow.prescriptions import services as prescription_services
from kapflow.prescriptions.models import DoseAuthorisation, DoseUse, Prescription
from tests.conftest import sign_in
from tests.encounters.factories import GOOD_VITALS, MIN, dosed, opened, ready_course, started

UTC = datetime.UTC
T0 = datetime.datetime(2027, 3, 10, 18, 0, tzinfo=UTC)  # 10:00 in Oregon (PST)
DAY = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True)
QUICK_FORM = {
    "amount_mg": "200", "bp_systolic": "120", "bp_diastolic": "80", "alcohol_free_24h": "on",
    "driver_confirmed": "on",
}  # fmt: skip
API_DAY = {
    "amount_mg": "200", "bp_systolic": 120, "bp_diastolic": 80, "alcohol_free_24h": True,
    "companion_present": False, "driver_confirmed": True,
}  # fmt: skip


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def course(world, clock):
    """Four doses dispensed on a 200 mg-per-session prescription, every gate met at T0."""
    return ready_course(world.client, world.therapist, world.prescriber, doses=4)


def _codes(exc):
    return sorted(r.code for r in exc.value.reasons)


def _uses(course):
    return DoseUse.objects.filter(course=course).count()


def _dosings(course):
    return CourseEvent.objects.filter(course=course, kind="dosing").count()


def _api_post(client, actor, path, body):
    _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
    return client.post(
        path, data=json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip


def _dose(actor, session, amount, *, at=None):
    return services.entry_add(
        actor=actor, session_id=session.pk, kind="dose", route="sublingual", amount=amount,
        unit="mg", occurred_at=at, now=at,
    )  # fmt: skip


def _discharge(actor, session, at):
    services.entry_add(
        actor=actor, session_id=session.pk, kind="vitals", occurred_at=at - 5 * MIN, now=at,
        **GOOD_VITALS,
    )  # fmt: skip
    session.refresh_from_db()
    return services.session_discharge(
        actor=actor, session_id=session.pk, version=session.version, alert_oriented=True,
        walks_steadily=True, escort_present=True, now=at,
    )  # fmt: skip


# ---- one session at a time ------------------------------------------------------------------


def test_quick_record_refused_while_a_session_is_in_progress(world, course):
    started(world.therapist, course, bp_systolic=150, bp_diastolic=95)
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=DAY)
    assert "dosing.session_open" in _codes(exc)
    assert (_uses(course), _dosings(course)) == (0, 0)


def test_course_page_names_the_session_in_progress_and_refuses_its_quick_record(
    client, world, course
):
    started(world.therapist, course)
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    gate = page.split('data-testid="dosing-gate"')[1].split("</section>")[0]
    assert 'data-code="dosing.session_open"' in gate
    assert "Nothing blocks this" not in gate
    response = client.post(f"/courses/{course.pk}/dosing/", QUICK_FORM)
    assert response.status_code == 409
    assert 'data-code="dosing.session_open"' in response.content.decode()
    assert (_uses(course), _dosings(course)) == (0, 0)


def test_api_dosing_refused_while_a_session_is_in_progress(client, world, course):
    started(world.therapist, course)
    response = _api_post(client, world.therapist, f"/api/v1/courses/{course.pk}/dosing", API_DAY)
    assert response.status_code == 409, response.content
    errors = {e["code"]: e for e in response.json()["errors"]}
    assert "dosing.session_open" in errors
    assert (_uses(course), _dosings(course)) == (0, 0)


# ---- the interval ---------------------------------------------------------------------------


def test_a_dosing_too_soon_after_the_last_dose_is_refused_then_allowed(world, course, clock):
    session = dosed(world.therapist, course, at=T0 - 150 * MIN)
    _discharge(world.therapist, session, T0)
    # Thirty minutes after the discharge (three hours after the dose): every route refuses.
    clock.move_to(T0 + 30 * MIN, tick=False)
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=DAY)
    (reason,) = exc.value.reasons
    assert reason.code == "dosing.too_soon" and not reason.overridable
    # The dose at 15:30 UTC is 07:30 in Oregon; the next may be given a day later.
    assert "2027-03-11 07:30 PST" in reason.message
    second = opened(world.therapist, course)
    with pytest.raises(GateBlocked) as exc:
        services.session_start(
            actor=world.therapist, session_id=second.pk, version=second.version,
            bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
        )  # fmt: skip
    assert _codes(exc) == ["dosing.too_soon"]
    assert (_uses(course), _dosings(course)) == (1, 1)
    # A day after the dose it is allowed.
    clock.move_to(T0 - 150 * MIN + datetime.timedelta(hours=24), tick=False)
    course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=DAY)
    assert (_uses(course), _dosings(course)) == (2, 2)


def test_the_interval_is_the_practices_setting(world, course, clock):
    GateSettings.objects.create(organisation=course.organisation, dose_interval_hours=48)
    session = dosed(world.therapist, course, at=T0 - 150 * MIN)
    _discharge(world.therapist, session, T0)
    clock.move_to(T0 + datetime.timedelta(hours=30), tick=False)
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=DAY)
    assert _codes(exc) == ["dosing.too_soon"]
    assert "48 hours" in exc.value.reasons[0].message


# ---- the amount -----------------------------------------------------------------------------


def test_a_dose_above_the_prescription_is_refused(world, course):
    session = started(world.therapist, course)
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session, 300)
    assert _codes(exc) == ["dose.above_prescription"]
    assert "200 mg per session" in exc.value.reasons[0].message
    assert (_uses(course), _dosings(course)) == (0, 0)
    assert not TimelineEntry.objects.filter(session=session, kind="dose").exists()
    session.refresh_from_db()
    services.session_abandon(
        actor=world.therapist, session_id=session.pk, version=session.version,
        reason="Held: the dose asked for was above the prescription.",
    )  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=DAY, amount_mg=Decimal("300")
        )
    assert _codes(exc) == ["dose.above_prescription"]
    assert (_uses(course), _dosings(course)) == (0, 0)


def test_a_dose_above_the_prescription_is_allowed_with_the_prescribers_authorisation(
    client, world, course, clock
):
    rx = Prescription.objects.get(course=course)
    with pytest.raises(PermissionDenied):
        prescription_services.dose_authorise(
            actor=world.therapist, prescription_id=rx.pk, amount_mg=Decimal("300"), reason="x"
        )
    authorisation = prescription_services.dose_authorise(
        actor=world.prescriber, prescription_id=rx.pk, amount_mg=Decimal("300"),
        reason="200 mg gave too little effect in two sessions; step up once and review.",
    )  # fmt: skip
    session = started(world.therapist, course, at=T0 - 150 * MIN)
    _dose(world.therapist, session, 300, at=T0 - 145 * MIN)
    use = DoseUse.objects.get(course=course)
    assert use.amount_mg == Decimal("300")
    authorisation.refresh_from_db()
    assert authorisation.dose_use == use
    # The prescriber's page names the amount above the prescription and who authorised it.
    sign_in(client, world.prescriber.user)
    page = client.get(f"/prescribing/prescriptions/{rx.pk}/").content.decode()
    assert "as prescribed" not in page
    assert "above the prescribed 200 mg" in page and "authorised by" in page
    # The authorisation was for that session: the next is back to 200 mg.
    _discharge(world.therapist, session, T0)
    clock.move_to(T0 + datetime.timedelta(hours=24), tick=False)
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=DAY, amount_mg=Decimal("300")
        )
    assert _codes(exc) == ["dose.above_prescription"]
    assert DoseAuthorisation.objects.filter(dose_use__isnull=True).count() == 0


def test_a_booster_that_takes_the_total_over_the_prescription_is_refused(world, course):
    session = started(world.therapist, course, at=T0 - 60 * MIN)
    _dose(world.therapist, session, 150, at=T0 - 55 * MIN)
    _dose(world.therapist, session, 50, at=T0 - 20 * MIN)  # 200 mg in all: allowed
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session, 25)
    assert _codes(exc) == ["dose.above_prescription"]
    assert "total to 225 mg" in exc.value.reasons[0].message
    # One dose used (boosters use none), recording the session's 200 mg.
    use = DoseUse.objects.get(course=course)
    assert use.amount_mg == Decimal("200")
    assert TimelineEntry.objects.filter(session=session, kind="dose").count() == 2


def test_a_corrected_dose_may_not_take_the_total_over_either(world, course):
    session = started(world.therapist, course, at=T0 - 60 * MIN)
    first = _dose(world.therapist, session, 200, at=T0 - 55 * MIN)
    session.refresh_from_db()
    with pytest.raises(GateBlocked) as exc:
        services.entry_correct(
            actor=world.therapist, session_id=session.pk, entry_id=first.pk,
            version=session.version, reason="Typed the wrong amount.", route="sublingual",
            amount=250, unit="mg",
        )  # fmt: skip
    assert _codes(exc) == ["dose.above_prescription"]


def test_the_dose_forms_are_filled_in_from_the_prescription(client, world, course):
    session = started(world.therapist, course)
    sign_in(client, world.therapist.user)
    screen = client.get(f"/sessions/{session.pk}/").content.decode()
    dose_form = screen.split('data-testid="dose-form"')[1].split("</form>")[0]
    assert 'value="200.00"' in dose_form
    assert "allows 200 mg per session, boosters included" in dose_form
    quick = client.get(f"/courses/{course.pk}/dosing/").content.decode()
    assert 'name="amount_mg"' in quick and 'value="200.00"' in quick
