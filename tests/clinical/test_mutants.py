"""Hard or soft, pinned for every reason code the course rules can produce (issue 20).

The mutation run flipped `overridable` on reasons unnoticed: the tests only looked at the codes.
Each case here builds facts that fail exactly one rule and checks, against a table written by
hand from decision 0029, that the reason is the only one, whether it is soft, and who owns it.
"""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from kapflow.clinical.course import (
    Action,
    Delivery,
    GatePolicy,
    Stage,
    blockers,
    dosing_reasons,
    transition_reasons,
)
from kapflow.clinical.overrides import Authority, practice_table, rule_for
from tests.clinical.test_course import GOOD_DAY, NOW, READY

CLINICIAN, PRESCRIBER, NOBODY = Authority.TREATING_CLINICIAN, Authority.PRESCRIBER, Authority.NOBODY

AT_HOME = {"delivery": Delivery.AT_HOME}
INTEGRATION_MISSED = {
    "dosing_count": 2,
    "last_dosing_at": NOW - timedelta(days=5),
    "previous_dosing_at": NOW - timedelta(days=10),
}
FOLLOWUP_LATE = {
    "dosing_count": 2,
    "followup_anchor_at": NOW - timedelta(days=20),
    "last_dosing_at": NOW - timedelta(days=20),
    "last_integration_at": NOW - timedelta(days=19),
}

# code: (who may override it by default, changes to READY, changes to GOOD_DAY).
DOSING_CASES = {
    "stage.not_active": (NOBODY, {"stage": Stage.PREPARATION}, {}),
    "dosing.session_open": (NOBODY, {"open_session_id": 7}, {}),
    "dosing.too_soon": (NOBODY, {"last_dose_at": NOW - timedelta(hours=3)}, {}),
    "eligibility.not_eligible": (NOBODY, {"eligibility": "not_eligible"}, {}),
    "eligibility.missing": (NOBODY, {"eligibility": None}, {}),
    "clearance.expired": (PRESCRIBER, {"clearance_on": date(2025, 1, 1)}, {}),
    "prescription.missing": (NOBODY, {"prescription_active": False}, {}),
    "prescription.no_doses_left": (NOBODY, {"doses_used": 2}, {}),
    "consent.withdrawn": (NOBODY, {"consent_withdrawn": True}, {}),
    "consent.outdated": (NOBODY, {"consent_outdated": True}, {}),
    "consent.missing": (NOBODY, {"consent_signed": False}, {}),
    "consent.telehealth_missing": (NOBODY, AT_HOME | {"telehealth_consent_signed": False}, {}),
    "preparation.none": (CLINICIAN, {"preparation_done": 0}, {}),
    "screen.missing": (NOBODY, {"last_screen_at": None}, {}),
    "screen.suicide_risk_positive": (NOBODY, {"last_screen_positive": True}, {}),
    "companion.unconfirmed": (CLINICIAN, AT_HOME | {"companion_confirmed": False}, {}),
    "licence.state_mismatch": (NOBODY, {"therapist_licensed": False}, {}),
    "referral.no_prescriber": (NOBODY, {"prescriber_assigned": False}, {}),
    "integration.overdue": (NOBODY, INTEGRATION_MISSED, {}),
    "followup.overdue": (NOBODY, FOLLOWUP_LATE, {}),
    "vitals.bp_missing": (PRESCRIBER, {}, {"bp_systolic": None}),
    "vitals.bp_high": (PRESCRIBER, {}, {"bp_systolic": 175}),
    "alcohol.not_attested": (NOBODY, {}, {"alcohol_free_24h": False}),
    "companion.absent": (NOBODY, AT_HOME, {"companion_present": False}),
    "driver.unconfirmed": (CLINICIAN, {}, {"driver_confirmed": False}),
}


def test_the_good_day_of_a_ready_course_has_no_reason():
    assert dosing_reasons(READY, now=NOW, day=GOOD_DAY) == []


@pytest.mark.parametrize("code", sorted(DOSING_CASES))
def test_each_dosing_reason_is_hard_or_soft_with_its_owner(code):
    authority, facts, day = DOSING_CASES[code]
    (reason,) = dosing_reasons(replace(READY, **facts), now=NOW, day=replace(GOOD_DAY, **day))
    assert reason.code == code
    assert reason.overridable is (authority is not NOBODY)
    assert rule_for(code).authority is authority


def test_an_unlicensed_prescriber_is_a_hard_reason_too():
    (reason,) = dosing_reasons(replace(READY, prescriber_licensed=False), now=NOW)
    assert (reason.code, reason.overridable) == ("licence.state_mismatch", False)


@pytest.mark.parametrize(
    ("stricter", "overridable"),
    [("treating_clinician", True), ("prescriber", True), ("nobody", False)],
)
def test_a_practice_that_tightens_a_soft_reason_decides_whether_it_stays_soft(
    stricter, overridable
):
    policy = GatePolicy(override_authority=(("preparation.none", stricter),))
    facts = replace(READY, preparation_done=0)
    (reason,) = dosing_reasons(facts, now=NOW, policy=policy)
    assert reason.overridable is overridable
    table = practice_table(policy.override_authority)
    assert rule_for("preparation.none", table).authority is Authority(stricter)


# ---- stage moves: every reason is hard --------------------------------------------------

ELIGIBLE = replace(READY, stage=Stage.ELIGIBLE)
EVALUATION = replace(READY, stage=Stage.MEDICAL_EVALUATION, eligibility=None)
PREPARATION = replace(READY, stage=Stage.PREPARATION)

# code: (action, facts that fail only that rule).
TRANSITION_CASES = {
    "stage.not_allowed": (Action.ACTIVATE, replace(READY, stage=Stage.INQUIRY)),
    "referral.no_prescriber": (
        Action.REFER,
        replace(READY, stage=Stage.INTAKE, prescriber_assigned=False),
    ),
    "eligibility.age_under_18": (
        Action.DECIDE_ELIGIBLE,
        replace(EVALUATION, client_birth_date=date(2009, 1, 1)),
    ),
    "clearance.missing": (Action.DECIDE_ELIGIBLE, replace(EVALUATION, clearance_on=None)),
    "eligibility.missing": (Action.RECORD_CONSENT, replace(ELIGIBLE, eligibility=None)),
    "eligibility.not_eligible": (
        Action.RECORD_CONSENT,
        replace(ELIGIBLE, eligibility="not_eligible"),
    ),
    "consent.withdrawn": (Action.RECORD_CONSENT, replace(ELIGIBLE, consent_withdrawn=True)),
    "consent.outdated": (Action.ACTIVATE, replace(PREPARATION, consent_outdated=True)),
    "consent.missing": (Action.ACTIVATE, replace(PREPARATION, consent_signed=False)),
    "consent.telehealth_missing": (
        Action.ACTIVATE,
        replace(PREPARATION, delivery=Delivery.AT_HOME, telehealth_consent_signed=False),
    ),
    "preparation.none": (Action.ACTIVATE, replace(PREPARATION, preparation_done=0)),
    "prescription.missing": (Action.ACTIVATE, replace(PREPARATION, prescription_active=False)),
    "dosing.none": (Action.COMPLETE, replace(READY, dosing_count=0)),
}


@pytest.mark.parametrize("code", sorted(TRANSITION_CASES))
def test_each_stage_move_reason_is_hard(code):
    action, facts = TRANSITION_CASES[code]
    (reason,) = transition_reasons(action, facts, now=NOW)
    assert (reason.code, reason.overridable) == (code, False)


def test_a_missing_preparation_is_hard_before_activation_and_soft_at_the_dose():
    # The same code: stage moves need their facts; only the dosing gate may be overridden.
    (before,) = blockers(replace(PREPARATION, preparation_done=0), now=NOW)
    (at_dose,) = blockers(replace(READY, preparation_done=0), now=NOW)
    assert (before.code, before.overridable) == ("preparation.none", False)
    assert (at_dose.code, at_dose.overridable) == ("preparation.none", True)
