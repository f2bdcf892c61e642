"""The first dose's gate (decisions 0025, 0029, 0030): it runs at the clock's time with the
day's latest blood pressure, a prescriber's blood-pressure decision covers only readings no
higher than the one signed for, the start's check expires by the clock whatever time is
typed for the dose, and whoever starts or doses holds a licence in the client's state."""

import datetime
import json
from decimal import Decimal

import pytest

from kapflow.accounts import services as account_services
from kapflow.accounts.models import Role
from kapflow.clinical.course import DoseDay
from kapflow.clinical.overrides import Justification
from kapflow.core.errors import GateBlocked
from kapflow.courses import services as course_services
from kapflow.courses.models import CourseEvent
from kapflow.encounters import services
from kapflow.encounters.models import TimelineEntry
from kapflow.prescriptions.models import DoseUse
from tests.accounts.factories import member
from tests.encounters.factories import MIN, opened, ready_course
from tests.patients.factories import on_team

UTC = datetime.UTC
T0 = datetime.datetime(2027, 3, 10, 18, 0, tzinfo=UTC)  # 10:00 in Oregon (PST)
DAY = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True)
RATIONALE = "Prescriber reviewed the reading and history by phone at 09:10."
START = {"alcohol_free_24h": True, "driver_confirmed": True}
NORMAL = {"bp_systolic": 120, "bp_diastolic": 80, "heart_rate": 70, "spo2": 98}


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def course(world, clock):
    return ready_course(world.client, world.therapist, world.prescriber, doses=4)


def _codes(exc):
    return {r.code for r in exc.value.reasons}


def _uses(course):
    return DoseUse.objects.filter(course=course).count()


def _start(actor, course, **reading):
    session = opened(actor, course)
    return services.session_start(
        actor=actor, session_id=session.pk, version=session.version, **{**NORMAL, **reading},
        **START,
    )  # fmt: skip


def _dose(actor, session, **kwargs):
    return services.entry_add(
        actor=actor, session_id=session.pk, kind="dose", route="sublingual", amount=200,
        unit="mg", **kwargs,
    )  # fmt: skip


def _sign_bp(world, course, systolic, diastolic):
    high = DoseDay(bp_systolic=systolic, bp_diastolic=diastolic, **START)
    course_services.gate_override_sign(
        actor=world.prescriber, course_id=course.pk, day=high,
        overrides={"vitals.bp_high": Justification("prescriber_reviewed", RATIONALE)},
    )  # fmt: skip


# ---- the prescriber's blood-pressure ceiling holds to the first dose ---------------------


def test_correcting_pre_dose_vitals_above_the_signed_ceiling_refuses_the_first_dose(world, course):
    _sign_bp(world, course, 165, 101)
    session = _start(world.therapist, course, bp_systolic=165, bp_diastolic=101)
    assert session.overridden == ["vitals.bp_high"]
    pre = TimelineEntry.objects.get(session=session, kind="vitals", data__phase="pre_dose")
    session.refresh_from_db()
    services.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=pre.pk, version=session.version,
        reason="Misread the cuff", bp_systolic=210, bp_diastolic=125, heart_rate=70, spo2=98,
    )  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session)
    assert "vitals.bp_high" in _codes(exc)
    assert "210/125" in " ".join(r.message for r in exc.value.reasons)
    assert _uses(course) == 0
    assert not CourseEvent.objects.filter(course=course, kind="dosing").exists()


def test_a_reading_within_the_signed_ceiling_still_doses(world, course):
    _sign_bp(world, course, 165, 101)
    session = _start(world.therapist, course, bp_systolic=165, bp_diastolic=101)
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=162,
        bp_diastolic=100,
    )  # fmt: skip
    _dose(world.therapist, session)
    assert _uses(course) == 1
    event = CourseEvent.objects.get(course=course, kind="dosing")
    assert (event.data["bp_systolic"], event.data["bp_diastolic"]) == (162, 100)


def test_a_reading_above_the_signed_one_taken_after_the_start_refuses(world, course):
    """A reading above the signed one taken after the start (not a correction) counts too."""
    _sign_bp(world, course, 165, 101)
    session = _start(world.therapist, course, bp_systolic=165, bp_diastolic=101)
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=170,
        bp_diastolic=101,
    )  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session)
    assert "vitals.bp_high" in _codes(exc)
    assert _uses(course) == 0


# ---- the day's blood pressure is the latest reading before the dose -----------------------


def test_a_high_reading_between_start_and_first_dose_refuses_the_dose(world, course):
    session = _start(world.therapist, course)
    entry = services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=195,
        bp_diastolic=118, heart_rate=90, spo2=97,
    )  # fmt: skip
    assert entry.flagged
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session)
    assert "vitals.bp_high" in _codes(exc)
    assert _uses(course) == 0


def test_a_struck_high_reading_does_not_count(world, course):
    session = _start(world.therapist, course)
    entry = services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=195,
        bp_diastolic=118,
    )  # fmt: skip
    session.refresh_from_db()
    services.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=entry.pk, version=session.version,
        reason="Wrong client's monitor", strike=True,
    )  # fmt: skip
    _dose(world.therapist, session)
    assert _uses(course) == 1


def test_a_settled_recheck_after_a_high_reading_doses(world, course, clock):
    session = _start(world.therapist, course)
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=175,
        bp_diastolic=95,
    )  # fmt: skip
    clock.move_to(T0 + 10 * MIN, tick=False)
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=130,
        bp_diastolic=85,
    )  # fmt: skip
    _dose(world.therapist, session)
    assert _uses(course) == 1


def test_a_reading_after_the_dose_s_clinical_time_does_not_gate_it(world, course, clock):
    """A dose typed in late: readings taken after it are in-session, not pre-dose."""
    session = _start(world.therapist, course)
    clock.move_to(T0 + 50 * MIN, tick=False)
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=178,
        bp_diastolic=96, occurred_at=T0 + 45 * MIN,
    )  # fmt: skip
    _dose(world.therapist, session, occurred_at=T0 + 5 * MIN)
    assert _uses(course) == 1


# ---- the start's check expires by the clock -----------------------------------------------


def test_a_backdated_first_dose_cannot_outlive_the_start(world, course, clock):
    session = _start(world.therapist, course)
    clock.move_to(T0 + datetime.timedelta(hours=6), tick=False)
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session)
    assert _codes(exc) == {"session.start_expired"}
    with pytest.raises(GateBlocked) as exc:
        _dose(world.therapist, session, occurred_at=T0 + 5 * MIN)
    assert _codes(exc) == {"session.start_expired"}
    assert _uses(course) == 0


def test_a_dose_typed_in_late_within_the_start_keeps_its_clinical_time(world, course, clock):
    session = _start(world.therapist, course)
    clock.move_to(T0 + 30 * MIN, tick=False)
    entry = _dose(world.therapist, session, occurred_at=T0 + 5 * MIN)
    assert entry.occurred_at == T0 + 5 * MIN
    event = CourseEvent.objects.get(course=course, kind="dosing")
    assert event.occurred_at == T0 + 5 * MIN
    assert _uses(course) == 1


# ---- the acting clinician's licence ---------------------------------------------------------


@pytest.fixture
def cover(world):
    """A covering therapist on the client's care team, licensed only in Washington."""
    cover = member(world.practice, Role.THERAPIST, licences=[("LMFT", "WA")])
    on_team(world.client, cover, added_by=world.therapist.user)
    return cover


def test_an_unlicensed_covering_therapist_cannot_start(world, course, cover):
    assert world.client.state == "OR"
    session = opened(cover, course)
    with pytest.raises(GateBlocked) as exc:
        services.session_start(
            actor=cover, session_id=session.pk, version=session.version, **NORMAL, **START
        )
    reason = next(r for r in exc.value.reasons if r.code == "licence.actor_state_mismatch")
    assert "OR" in reason.message and not reason.overridable


def test_an_unlicensed_covering_therapist_cannot_quick_record(world, course, cover):
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=cover, course_id=course.pk, day=DAY)
    assert "licence.actor_state_mismatch" in _codes(exc)
    assert _uses(course) == 0


def test_an_unlicensed_covering_therapist_cannot_give_the_first_dose(world, course, cover):
    session = _start(world.therapist, course)
    with pytest.raises(GateBlocked) as exc:
        _dose(cover, session)
    assert _codes(exc) == {"licence.actor_state_mismatch"}
    assert _uses(course) == 0
    _dose(world.therapist, session)
    assert _uses(course) == 1


def test_an_expired_licence_does_not_count(world, course, cover):
    from kapflow.accounts.models import ClinicianLicence

    ClinicianLicence.objects.create(
        user=cover.user, licence_type="LPC", state="OR", number="X-1",
        expires_on=datetime.date(2027, 3, 9),
    )  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=cover, course_id=course.pk, day=DAY)
    assert "licence.actor_state_mismatch" in _codes(exc)


def test_a_covering_therapist_licensed_in_the_state_doses(world, course):
    cover = member(world.practice, Role.THERAPIST, licences=[("LPC", "OR")])
    on_team(world.client, cover, added_by=world.therapist.user)
    session = _start(cover, course)
    _dose(cover, session)
    assert _uses(course) == 1


# ---- the amount's precision ----------------------------------------------------------------


def test_an_amount_beyond_hundredths_is_refused_naming_amount(client, world, course):
    session = _start(world.therapist, course)
    _, raw = account_services.api_token_create(
        actor=world.therapist, name="tests", mfa_verified=True
    )
    response = client.post(
        f"/api/v1/sessions/{session.pk}/entries",
        data=json.dumps({"kind": "dose", "route": "sublingual", "amount": "100.125"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert response.status_code == 422, response.content
    fields = [e["field"] or "" for e in response.json()["errors"]]
    assert any(f.endswith("amount") for f in fields), fields
    assert not any("amount_mg" in f for f in fields)
    assert _uses(course) == 0


def test_the_service_refuses_an_amount_beyond_hundredths(world, course):
    from django.core.exceptions import ValidationError

    session = _start(world.therapist, course)
    with pytest.raises(ValidationError) as exc:
        services.entry_add(
            actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
            amount=Decimal("100.125"), unit="mg",
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"amount"}
    _dose(world.therapist, session)  # 200 mg
    assert _uses(course) == 1
