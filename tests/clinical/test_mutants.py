"""Tests a mutant cannot slip past (issue 20): hard or soft for every reason code, and
the edges the mutation run of kapflow.clinical found unguarded.

The mutation run flipped `overridable` on reasons unnoticed: the tests only looked at the codes.
Each case here builds facts that fail exactly one rule and checks, against a table written by
hand from decision 0029, that the reason is the only one, whether it is soft, and who owns it.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from kapflow.clinical import overrides as ovr
from kapflow.clinical import prescribing as rx
from kapflow.clinical.course import (
    Action,
    Delivery,
    GatePolicy,
    Stage,
    apply,
    blockers,
    clearance_expires_on,
    clinical_today,
    deadlines,
    dosing_reasons,
    integration_missed_cycles,
    next_step,
    transition_reasons,
)
from kapflow.clinical.measurement import plan_occasions
from kapflow.clinical.medications import medication_search
from kapflow.clinical.overrides import Authority, practice_table, rule_for
from kapflow.clinical.reasons import Reason
from tests.clinical.test_course import GOOD_DAY, NOW, READY

TODAY = date(2026, 11, 25)

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


# ---- prescribing: which reasons are soft, the booster's words, adherence's window ---------

RX_GOOD = rx.PrescriptionDraft(
    product="ketamine_sl_rdt", frequency=rx.Frequency.PER_SESSION, strength_mg=100,
    dose_mg=200, quantity=4, refills=1, written_on=TODAY, pathway="higher_dose", at_home=True,
)  # fmt: skip

# code: (soft?, changes that fail only that rule).
RX_CASES = {
    "prescription.product_unknown": (False, {"product": "ketamine_gummies"}),
    "prescription.too_many_refills": (False, {"refills": 6}),
    "prescription.future_date": (False, {"written_on": TODAY + timedelta(days=1)}),
    "prescription.in_clinic_only": (
        False,
        {"product": "ketamine_inj_50", "strength_mg": 50, "dose_mg": 100},
    ),
    "prescription.frequency_pathway": (False, {"pathway": "low_dose"}),
    "prescription.dose_below_strength": (
        True,
        {"dose_mg": 50, "pathway": "low_dose", "frequency": rx.Frequency.DAILY},
    ),
    "prescription.dose_unusual": (True, {"dose_mg": 500}),
}


@pytest.mark.parametrize("code", sorted(RX_CASES))
def test_each_prescription_reason_is_hard_or_soft(code):
    soft, changes = RX_CASES[code]
    (reason,) = rx.prescription_reasons(replace(RX_GOOD, **changes), today=TODAY)
    assert (reason.code, reason.overridable) == (code, soft)


def test_a_first_dose_above_the_prescription_is_not_called_a_booster():
    (first,) = rx.session_amount_reasons(total_mg=Decimal("300"), per_session_mg=Decimal("200"))
    assert first.message.startswith("A dose of 300 mg is above the prescription's 200 mg")
    (booster,) = rx.session_amount_reasons(
        total_mg=Decimal("300"), per_session_mg=Decimal("200"), booster=True
    )
    assert booster.message.startswith("This booster would bring the session's total to 300 mg")


def test_adherence_looks_back_exactly_the_window():
    start = TODAY - timedelta(days=90)
    found = rx.daily_adherence({TODAY}, start=start, today=TODAY, window_days=28)
    begin = TODAY - timedelta(days=27)
    missed = tuple(begin + timedelta(days=i) for i in range(27))
    assert found == rx.Adherence(begin, TODAY, 28, 1, missed)


def test_adherence_on_the_first_day_counts_the_dose_once_logged():
    assert rx.daily_adherence({TODAY}, start=TODAY, today=TODAY) == rx.Adherence(
        TODAY, TODAY, 1, 1, ()
    )
    assert rx.daily_adherence(set(), start=TODAY, today=TODAY) == rx.Adherence(
        TODAY, TODAY, 0, 0, ()
    )


def test_adherence_before_the_start_is_empty_from_the_start():
    start = TODAY + timedelta(days=3)
    found = rx.daily_adherence({TODAY}, start=start, today=TODAY)
    assert found == rx.Adherence(start, TODAY, 0, 0, ())


# ---- the measurement schedule's edges ------------------------------------------------------

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def test_a_plan_started_at_the_first_dose_keeps_its_baseline_and_that_dose():
    found = plan_occasions(started_at=START, dosing_times=[START], now=START + timedelta(days=8))
    assert [(o.key, o.schedule) for o in found] == [
        ("baseline", "baseline"), ("pre:2", "pre_dosing"), ("week:1", "week_after"),
    ]  # fmt: skip


def test_a_dose_before_the_plan_is_skipped_and_later_ones_still_count():
    dosings = [START - timedelta(days=2), START + timedelta(days=3)]
    found = plan_occasions(started_at=START, dosing_times=dosings, now=START + timedelta(days=5))
    assert [o.key for o in found] == ["pre:3"]
    assert found[0].opens_at == START + timedelta(days=4)


def test_a_monthly_occasion_opens_at_its_instant():
    month_one = START + timedelta(days=7 + 30)
    found = plan_occasions(started_at=START, dosing_times=[], now=month_one)
    assert (found[-1].key, found[-1].schedule, found[-1].opens_at) == (
        "month:1", "monthly", month_one,
    )  # fmt: skip


# ---- the course's deadlines and gates at their edges ----------------------------------------


def _due(facts, code, now=NOW, policy=None):
    return [d for d in deadlines(facts, now=now, policy=policy) if d.code == code]


def test_clearance_renewal_appears_inside_fourteen_days_and_is_due_not_overdue_at_expiry():
    at = datetime(2026, 12, 9, tzinfo=UTC)  # the clearance lasts until 2026-12-09 00:00
    facts = replace(READY, clearance_on=date(2026, 12, 1), clearance_valid_days=8)
    assert _due(facts, "clearance.renewal", at - timedelta(days=14)) == []
    (item,) = _due(facts, "clearance.renewal", at - timedelta(days=13, hours=23))
    assert (item.due_at, item.overdue) == (at, False)
    (today,) = _due(facts, "clearance.renewal", at)
    assert today.overdue is False


def test_a_deadline_is_not_overdue_at_its_own_instant():
    dosed = NOW - timedelta(days=20)
    facts = replace(READY, dosing_count=2, last_dosing_at=dosed, followup_anchor_at=dosed)
    integration = dosed + timedelta(hours=72)
    (item,) = _due(facts, "integration.due", integration)
    assert item.overdue is False
    (checkin,) = _due(facts, "integration.checkin", dosed + timedelta(days=7))
    assert checkin.overdue is False
    (followup,) = _due(facts, "followup.due", dosed + timedelta(days=14))
    assert followup.overdue is False
    (late,) = _due(facts, "followup.due", NOW)
    assert late.overdue is True


def test_the_rescreen_is_due_only_once_the_last_screen_has_lapsed():
    assert _due(READY, "screen.due") == []
    lapsing = replace(READY, last_screen_at=NOW - timedelta(days=7))
    assert _due(lapsing, "screen.due") == []  # valid until this very instant
    assert [d.due_at for d in _due(replace(READY, last_screen_at=None), "screen.due")] == [None]


def test_preparation_is_due_only_before_the_first_preparation_session():
    preparing = replace(READY, stage=Stage.PREPARATION)
    assert _due(replace(preparing, preparation_done=0), "preparation.due") != []
    assert _due(preparing, "preparation.due") == []
    assert _due(replace(READY, preparation_done=0), "preparation.due") == []


def test_deadlines_are_soonest_first_and_undated_last():
    dosed = NOW - timedelta(days=2)
    facts = replace(
        READY, dosing_count=2, last_dosing_at=dosed, last_screen_at=None,
        followup_anchor_at=NOW - timedelta(days=30),
    )  # fmt: skip
    assert [d.code for d in deadlines(facts, now=NOW)] == [
        "followup.due", "integration.due", "integration.checkin", "screen.due",
    ]  # fmt: skip


def test_an_integration_at_the_dosing_instant_follows_it():
    dosed = NOW - timedelta(days=5)
    facts = replace(READY, last_dosing_at=dosed, last_integration_at=dosed)
    assert _due(facts, "integration.due") == []
    assert integration_missed_cycles(facts, now=NOW, policy=GatePolicy()) == 0
    assert integration_missed_cycles(READY, now=NOW, policy=GatePolicy()) == 0
    both = replace(facts, previous_dosing_at=dosed - timedelta(days=5), last_integration_at=None)
    assert integration_missed_cycles(both, now=NOW, policy=GatePolicy()) == 2
    at_previous = replace(both, last_integration_at=both.previous_dosing_at)
    assert integration_missed_cycles(at_previous, now=NOW, policy=GatePolicy()) == 1


def test_a_followup_on_the_anchor_day_starts_the_interval():
    anchor = NOW - timedelta(days=20)
    facts = replace(READY, dosing_count=2, followup_anchor_at=anchor, last_followup_at=anchor)
    (item,) = _due(facts, "followup.due")
    assert (item.due_at, item.overdue) == (anchor + timedelta(days=90), False)


def test_one_dose_left_and_one_dosing_done_block_nothing():
    assert dosing_reasons(replace(READY, doses_used=1), now=NOW) == []
    assert transition_reasons(Action.COMPLETE, replace(READY, dosing_count=1), now=NOW) == []


def test_clearance_without_a_date_or_a_length_never_expires_on_a_date():
    assert clearance_expires_on(replace(READY, clearance_valid_days=None)) is None
    assert clearance_expires_on(replace(READY, clearance_on=None)) is None


def test_the_clinical_date_is_the_practices_not_the_servers():
    early = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)  # still the 24th in Los Angeles
    facts = replace(READY, clinical_zone="America/Los_Angeles")
    assert clinical_today(facts, early) == date(2026, 11, 24)
    assert clinical_today(replace(READY, clinical_zone="Asia/Tokyo"), NOW) == date(2026, 11, 26)


def test_next_step_and_blockers_use_the_practice_policy():
    quick = GatePolicy(integration_hours=1, screen_valid_days=1)
    dosed = replace(READY, last_dosing_at=NOW - timedelta(hours=2))
    assert next_step(dosed, now=NOW) == "Dosing and integration sessions."
    assert next_step(dosed, now=NOW, policy=quick) == "Integration session is overdue."
    stale = replace(READY, last_screen_at=NOW - timedelta(days=2))
    assert blockers(stale, now=NOW) == []
    assert [r.code for r in blockers(stale, now=NOW, policy=quick)] == ["screen.missing"]


def test_next_step_names_preparation_done_only_in_preparation():
    preparing = replace(READY, stage=Stage.PREPARATION)
    assert next_step(preparing, now=NOW).startswith("Preparation done")
    assert next_step(replace(preparing, preparation_done=0), now=NOW).startswith("Complete")
    assert next_step(READY, now=NOW) == "Dosing and integration sessions."


def test_applying_a_decision_records_only_that_decision():
    evaluating = replace(READY, stage=Stage.MEDICAL_EVALUATION, eligibility=None)
    assert apply(evaluating, Action.DECIDE_NOT_ELIGIBLE).eligibility == "not_eligible"
    assert apply(evaluating, Action.WITHDRAW).eligibility is None
    declined = apply(replace(READY, stage=Stage.REFERRED), Action.DECLINE_REFERRAL)
    assert declined.prescriber_assigned is False


# ---- the medication picker's limit --------------------------------------------------------


def test_the_medication_search_returns_twenty_by_default_and_honours_a_limit_of_one():
    assert len(medication_search("a")) == 20
    assert len(medication_search("a", limit=1)) == 1
    assert medication_search("a", limit=0) == []


# ---- who may override, and standing decisions --------------------------------------------

CLEARANCE = ovr.rule_for("clearance.expired")  # the prescriber's
PRESCRIBER_SIGNS = ovr.Signer(prescriber=True, licensed=True)
EVERYONE = ovr.Signer(treating_clinician=True, prescriber=True, licensed=True)
TWENTY = "x" * 20  # exactly RATIONALE_MIN characters


def test_nobody_owns_a_hard_rule_whoever_signs():
    assert ovr.may_override(ovr.rule_for("consent.missing"), EVERYONE) is False


@pytest.mark.parametrize(
    ("signer", "licence_named"),
    [
        (ovr.Signer(prescriber=True), True),  # the owner, unlicensed today
        (ovr.Signer(treating_clinician=True), False),  # not the owner
        (ovr.Signer(treating_clinician=True, licensed=True), False),
        (ovr.Signer(), False),
    ],
)
def test_why_not_names_the_licence_only_to_the_unlicensed_owner(signer, licence_named):
    why = ovr.why_not(CLEARANCE, signer, None)
    assert why.startswith("Only the course's prescriber may override this")
    assert ("current licence" in why) is licence_named


def test_why_not_tells_the_owner_what_a_justification_needs():
    assert ovr.why_not(CLEARANCE, PRESCRIBER_SIGNS, None) == (
        "You may override this with a signed justification: choose a justification category "
        "(renewal_in_progress, prescriber_reviewed); write a rationale of at least 20 "
        "characters saying what was checked."
    )


def test_a_rationale_of_exactly_the_minimum_length_is_enough():
    good = ovr.Justification(category="prescriber_reviewed", rationale=TWENTY)
    assert ovr.justification_problems(CLEARANCE, good) == []
    assert ovr.why_not(CLEARANCE, PRESCRIBER_SIGNS, good) == ""
    assessment = ovr.RiskAssessment(risk_level="low", decision="hold", rationale=TWENTY)
    assert ovr.risk_assessment_problems(assessment, licensed=True) == {}


SIGNED = NOW - timedelta(hours=4)


def test_a_standing_decision_covers_its_own_code_up_to_four_hours_after_signing():
    decision = ovr.StandingDecision("preparation.none", SIGNED)
    assert ovr.standing_covers(decision, code="preparation.none", now=NOW) is True
    assert ovr.standing_covers(decision, code="clearance.expired", now=NOW) is False
    late = NOW + timedelta(seconds=1)
    assert ovr.standing_covers(decision, code="preparation.none", now=late) is False


def test_a_standing_blood_pressure_decision_covers_the_reading_it_saw_not_a_higher_one():
    decision = ovr.StandingDecision("vitals.bp_high", SIGNED, 170, 100)
    same = {"code": "vitals.bp_high", "now": NOW}
    assert ovr.standing_covers(decision, bp_systolic=170, bp_diastolic=100, **same) is True
    assert ovr.standing_covers(decision, bp_systolic=171, bp_diastolic=100, **same) is False
    assert ovr.standing_covers(decision, bp_systolic=170, bp_diastolic=101, **same) is False


def test_an_outcome_lists_covered_and_overridden_reasons_when_nothing_is_refused():
    clearance = Reason("clearance.expired", "expired", overridable=True)
    bp = Reason("vitals.bp_high", "high", overridable=True)
    justified = {"clearance.expired": ovr.Justification("renewal_in_progress", TWENTY)}
    found = ovr.override_outcome(
        [clearance, bp], signer=PRESCRIBER_SIGNS, justifications=justified,
        covered_codes=["vitals.bp_high"],
    )  # fmt: skip
    assert found == ovr.OverrideOutcome([bp], [clearance], [])
    assert found.passes


def test_an_outcome_applies_the_practice_table():
    preparation = Reason("preparation.none", "none", overridable=True)
    clinician = ovr.Signer(treating_clinician=True, licensed=True)
    justified = {"preparation.none": ovr.Justification("equivalent_completed", TWENTY)}
    allowed = ovr.override_outcome([preparation], signer=clinician, justifications=justified)
    assert allowed.overridden == [preparation]
    table = ovr.practice_table({"preparation.none": "nobody"})
    refused = ovr.override_outcome(
        [preparation], signer=clinician, justifications=justified, table=table
    )
    assert [r.authority for r in refused.refusals] == [ovr.Authority.NOBODY]


def test_the_followup_gate_holds_only_after_its_due_instant():
    dosed = NOW - timedelta(days=14)
    facts = replace(
        READY, dosing_count=2, followup_anchor_at=dosed, last_dosing_at=dosed,
        last_integration_at=dosed + timedelta(days=1),
    )  # fmt: skip
    assert dosing_reasons(facts, now=NOW) == []
    later = NOW + timedelta(seconds=1)
    assert [r.code for r in dosing_reasons(facts, now=later)] == ["followup.overdue"]


def test_blockers_before_eligibility_read_the_clinical_date():
    minor = replace(EVALUATION, client_birth_date=date(2009, 1, 1))
    assert [r.code for r in blockers(minor, now=NOW)] == ["eligibility.age_under_18"]


def test_why_not_names_the_licence_to_an_unlicensed_treating_clinician():
    why = ovr.why_not(ovr.rule_for("preparation.none"), ovr.Signer(treating_clinician=True), None)
    assert "current licence" in why


def test_practice_problems_lists_every_bad_setting_not_only_the_first():
    found = ovr.practice_problems(
        {"no.such_code": "nobody", "preparation.none": "bogus", "clearance.expired": "nobody"}
    )
    assert sorted(found) == ["no.such_code", "preparation.none"]
    loosened = ovr.practice_problems(
        {"preparation.none": "bogus", "clearance.expired": "treating_clinician"}
    )
    assert sorted(loosened) == ["clearance.expired", "preparation.none"]
