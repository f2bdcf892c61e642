"""One dosing at a time, at the prescribed dose (decision 0030): the pure rules."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from kapflow.clinical import prescribing as rx
from kapflow.clinical.course import (
    CourseFacts,
    DoseDay,
    GatePolicy,
    Stage,
    blockers,
    dosing_reasons,
    next_dose_from,
    split_hard,
)

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
READY = CourseFacts(
    stage=Stage.ACTIVE,
    client_state="OR",
    prescriber_assigned=True,
    eligibility="eligible",
    clearance_on=date(2026, 11, 1),
    clearance_valid_days=180,
    prescription_active=True,
    doses_authorised=4,
    consent_signed=True,
    preparation_done=1,
    last_screen_at=NOW - timedelta(days=1),
    last_screen_positive=False,
    therapist_licensed=True,
    prescriber_licensed=True,
    clinical_zone="America/Los_Angeles",
)
GOOD_DAY = DoseDay(bp_systolic=128, bp_diastolic=82, alcohol_free_24h=True, driver_confirmed=True)


def codes(reasons):
    return sorted(r.code for r in reasons)


def test_dosing_blocked_while_a_session_is_in_progress_and_hard():
    facts = replace(READY, open_session_id=7)
    reasons = dosing_reasons(facts, now=NOW, day=GOOD_DAY)
    assert codes(reasons) == ["dosing.session_open"]
    assert split_hard(reasons)[1] == []


def test_the_open_session_does_not_block_its_own_dose():
    facts = replace(READY, open_session_id=7)
    assert dosing_reasons(facts, now=NOW, day=replace(GOOD_DAY, session_id=7)) == []
    assert codes(dosing_reasons(facts, now=NOW, day=replace(GOOD_DAY, session_id=8))) == [
        "dosing.session_open"
    ]


def test_the_course_page_blockers_name_the_session_in_progress():
    assert codes(blockers(replace(READY, open_session_id=7), now=NOW)) == ["dosing.session_open"]


def test_dosing_blocked_too_soon_after_the_last_dose_names_the_next_time_in_the_practice_zone():
    facts = replace(READY, last_dose_at=NOW - timedelta(minutes=30))
    (reason,) = dosing_reasons(facts, now=NOW, day=GOOD_DAY)
    assert reason.code == "dosing.too_soon" and not reason.overridable
    # 14:30 UTC is 06:30 PST; the next dose 24 hours later, on the 26th.
    assert "2026-11-25 06:30 PST" in reason.message
    assert "2026-11-26 06:30 PST" in reason.message
    assert "24 hours" in reason.message


def test_dosing_allowed_once_the_interval_has_passed():
    facts = replace(READY, last_dose_at=NOW - timedelta(hours=24))
    assert next_dose_from(facts, GatePolicy()) == NOW
    assert dosing_reasons(facts, now=NOW, day=GOOD_DAY) == []
    just_before = replace(READY, last_dose_at=NOW - timedelta(hours=24) + timedelta(seconds=1))
    assert codes(dosing_reasons(just_before, now=NOW, day=GOOD_DAY)) == ["dosing.too_soon"]


def test_the_dose_interval_is_the_practices_setting():
    facts = replace(READY, last_dose_at=NOW - timedelta(hours=30))
    policy = GatePolicy(dose_interval_hours=48)
    assert codes(dosing_reasons(facts, now=NOW, policy=policy)) == ["dosing.too_soon"]
    assert dosing_reasons(facts, now=NOW, policy=GatePolicy()) == []


def test_no_dose_yet_means_no_interval():
    assert next_dose_from(READY, GatePolicy()) is None


# ---- the amount -----------------------------------------------------------------------------


def test_a_dose_within_the_prescription_is_allowed():
    assert rx.session_amount_reasons(total_mg=Decimal("200"), per_session_mg=Decimal("200")) == []


def test_a_dose_above_the_prescription_is_refused_and_hard():
    (reason,) = rx.session_amount_reasons(total_mg=Decimal("300"), per_session_mg=Decimal("200"))
    assert reason.code == "dose.above_prescription" and not reason.overridable
    assert "300 mg" in reason.message and "200 mg per session" in reason.message


def test_a_dose_above_the_prescription_is_allowed_up_to_the_prescribers_authorisation():
    allowed = rx.session_amount_reasons(
        total_mg=Decimal("300"), per_session_mg=Decimal("200"), authorised_mg=Decimal("300")
    )
    assert allowed == []
    (reason,) = rx.session_amount_reasons(
        total_mg=Decimal("320"), per_session_mg=Decimal("200"), authorised_mg=Decimal("300")
    )
    assert "300 mg the prescriber authorised" in reason.message


def test_a_booster_counts_against_the_session_total():
    (reason,) = rx.session_amount_reasons(
        total_mg=Decimal("250"), per_session_mg=Decimal("200"), booster=True
    )
    assert reason.code == "dose.above_prescription"
    assert "booster would bring the session's total to 250 mg" in reason.message
    assert (
        rx.session_amount_reasons(
            total_mg=Decimal("200"), per_session_mg=Decimal("200"), booster=True
        )
        == []
    )


def test_a_dose_in_mg_per_kg_cannot_be_checked_and_is_refused():
    (reason,) = rx.session_amount_reasons(
        total_mg=Decimal("0.5"), per_session_mg=Decimal("200"), unit="mg/kg"
    )
    assert reason.code == "dose.unit_not_mg" and not reason.overridable
