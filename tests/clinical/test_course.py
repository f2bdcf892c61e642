"""The course rules: one test per reason code, deadlines at their edges, and properties."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapflow.clinical.course import (
    TRANSITIONS,
    Action,
    CourseFacts,
    Delivery,
    DoseDay,
    GatePolicy,
    Stage,
    allowed_actions,
    apply,
    blockers,
    deadlines,
    dosing_reasons,
    next_step,
    split_hard,
    transition_reasons,
)

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
POLICY = GatePolicy()

# A course that may dose: every gate holds.
READY = CourseFacts(
    stage=Stage.ACTIVE,
    client_state="OR",
    client_birth_date=date(1990, 1, 1),
    prescriber_assigned=True,
    eligibility="eligible",
    clearance_on=date(2026, 11, 1),
    clearance_valid_days=180,
    prescription_active=True,
    doses_authorised=2,
    doses_used=0,
    consent_signed=True,
    telehealth_consent_signed=True,
    preparation_done=1,
    last_screen_at=NOW - timedelta(days=1),
    last_screen_positive=False,
    companion_confirmed=True,
    therapist_licensed=True,
    prescriber_licensed=True,
)
GOOD_DAY = DoseDay(
    bp_systolic=128, bp_diastolic=82, alcohol_free_24h=True, driver_confirmed=True,
    companion_present=True,
)  # fmt: skip


def codes(reasons):
    return sorted(r.code for r in reasons)


def test_ready_course_has_no_dosing_reasons():
    assert dosing_reasons(READY, now=NOW, day=GOOD_DAY) == []


# ---- one test per dosing reason code ------------------------------------------------------


def test_dosing_blocked_when_not_active():
    assert codes(dosing_reasons(replace(READY, stage=Stage.PREPARATION), now=NOW)) == [
        "stage.not_active"
    ]


def test_dosing_blocked_when_not_eligible_is_hard():
    reasons = dosing_reasons(replace(READY, eligibility="not_eligible"), now=NOW)
    assert codes(reasons) == ["eligibility.not_eligible"]
    assert not reasons[0].overridable


def test_dosing_blocked_when_eligibility_missing():
    assert codes(dosing_reasons(replace(READY, eligibility=None), now=NOW)) == [
        "eligibility.missing"
    ]


def test_dosing_blocked_when_clearance_expired_is_soft():
    facts = replace(READY, clearance_on=date(2026, 1, 1), clearance_valid_days=30)
    reasons = dosing_reasons(facts, now=NOW)
    assert codes(reasons) == ["clearance.expired"] and reasons[0].overridable


def test_clearance_valid_on_its_last_day():
    facts = replace(READY, clearance_on=date(2026, 11, 15), clearance_valid_days=10)
    assert dosing_reasons(facts, now=NOW) == []
    assert codes(dosing_reasons(replace(facts, clearance_valid_days=9), now=NOW)) == [
        "clearance.expired"
    ]


def test_dosing_blocked_when_prescription_missing_is_hard():
    reasons = dosing_reasons(replace(READY, prescription_active=False), now=NOW)
    assert codes(reasons) == ["prescription.missing"] and not reasons[0].overridable


def test_dosing_blocked_when_nothing_dispensed_yet():
    reasons = dosing_reasons(replace(READY, doses_authorised=0), now=NOW)
    assert codes(reasons) == ["prescription.no_doses_left"]
    assert "0 dispensed" in reasons[0].message


def test_dosing_blocked_when_no_doses_left():
    reasons = dosing_reasons(replace(READY, doses_used=2), now=NOW)
    assert codes(reasons) == ["prescription.no_doses_left"] and not reasons[0].overridable


def test_dosing_blocked_when_consent_missing_is_hard():
    reasons = dosing_reasons(replace(READY, consent_signed=False), now=NOW)
    assert codes(reasons) == ["consent.missing"] and not reasons[0].overridable


def test_dosing_blocked_when_consent_withdrawn_is_hard():
    facts = replace(READY, consent_signed=False, consent_withdrawn=True)
    reasons = dosing_reasons(facts, now=NOW)
    assert codes(reasons) == ["consent.withdrawn"] and not reasons[0].overridable


def test_dosing_blocked_when_consent_outdated_is_hard():
    facts = replace(READY, consent_signed=False, consent_outdated=True)
    reasons = dosing_reasons(facts, now=NOW)
    assert codes(reasons) == ["consent.outdated"] and not reasons[0].overridable
    assert reasons[0].message == (
        "A new version of the consent was published; the client must sign it again."
    )


def test_dosing_at_home_blocked_when_telehealth_consent_missing_is_hard():
    facts = replace(READY, delivery=Delivery.AT_HOME, telehealth_consent_signed=False)
    reasons = dosing_reasons(facts, now=NOW)
    assert codes(reasons) == ["consent.telehealth_missing"] and not reasons[0].overridable
    # In the office the telehealth consent is not needed.
    assert dosing_reasons(replace(facts, delivery=Delivery.IN_PERSON), now=NOW) == []


def test_dosing_blocked_without_preparation():
    assert codes(dosing_reasons(replace(READY, preparation_done=0), now=NOW)) == [
        "preparation.none"
    ]


def test_dosing_blocked_when_screen_missing():
    assert codes(dosing_reasons(replace(READY, last_screen_at=None), now=NOW)) == ["screen.missing"]


def test_screen_valid_for_exactly_seven_days():
    at_edge = replace(READY, last_screen_at=NOW - timedelta(days=7))
    assert dosing_reasons(at_edge, now=NOW) == []
    stale = replace(READY, last_screen_at=NOW - timedelta(days=7, seconds=1))
    assert codes(dosing_reasons(stale, now=NOW)) == ["screen.missing"]


def test_dosing_blocked_when_screen_positive():
    assert codes(dosing_reasons(replace(READY, last_screen_positive=True), now=NOW)) == [
        "screen.suicide_risk_positive"
    ]


def test_at_home_needs_a_confirmed_companion():
    facts = replace(READY, delivery=Delivery.AT_HOME, companion_confirmed=False)
    assert codes(dosing_reasons(facts, now=NOW)) == ["companion.unconfirmed"]
    assert dosing_reasons(replace(facts, delivery=Delivery.IN_PERSON), now=NOW) == []


def test_licence_mismatch_is_hard_and_names_each_clinician():
    reasons = dosing_reasons(
        replace(READY, therapist_licensed=False, prescriber_licensed=False), now=NOW
    )
    assert codes(reasons) == ["licence.state_mismatch", "licence.state_mismatch"]
    assert {r.message.split()[1] for r in reasons} == {"therapist", "prescriber"}
    assert not any(r.overridable for r in reasons)


def test_dosing_blocked_when_followup_overdue():
    second = NOW - timedelta(days=15)
    facts = replace(READY, dosing_count=2, last_dosing_at=second, followup_anchor_at=second,
                    last_integration_at=second + timedelta(hours=2))  # fmt: skip
    reasons = dosing_reasons(facts, now=NOW)
    assert codes(reasons) == ["followup.overdue"]
    assert not reasons[0].overridable  # only the prescriber's follow-up clears it


def test_declined_referral_returns_to_intake_without_a_prescriber():
    facts = replace(READY, stage=Stage.REFERRED)
    assert transition_reasons(Action.DECLINE_REFERRAL, facts, now=NOW) == []
    after = apply(facts, Action.DECLINE_REFERRAL)
    assert after.stage is Stage.INTAKE and not after.prescriber_assigned


@pytest.mark.parametrize(
    ("systolic", "diastolic", "blocked"),
    [(159, 99, False), (160, 80, True), (120, 100, True), (None, 80, True)],
)
def test_pre_dose_blood_pressure_threshold(systolic, diastolic, blocked):
    day = replace(GOOD_DAY, bp_systolic=systolic, bp_diastolic=diastolic)
    found = codes(dosing_reasons(READY, now=NOW, day=day))
    expected = ("vitals.bp_missing" if systolic is None else "vitals.bp_high") if blocked else None
    assert found == ([expected] if expected else [])


def test_blood_pressure_threshold_is_configurable():
    strict = GatePolicy(bp_systolic_max=140, bp_diastolic_max=90)
    day = replace(GOOD_DAY, bp_systolic=145)
    assert codes(dosing_reasons(READY, now=NOW, day=day, policy=strict)) == ["vitals.bp_high"]


def test_alcohol_attestation_required():
    day = replace(GOOD_DAY, alcohol_free_24h=False)
    assert codes(dosing_reasons(READY, now=NOW, day=day)) == ["alcohol.not_attested"]


def test_in_person_needs_a_driver_and_at_home_a_present_companion():
    no_driver = replace(GOOD_DAY, driver_confirmed=False)
    assert codes(dosing_reasons(READY, now=NOW, day=no_driver)) == ["driver.unconfirmed"]
    at_home = replace(READY, delivery=Delivery.AT_HOME)
    away = replace(GOOD_DAY, companion_present=False, driver_confirmed=False)
    assert codes(dosing_reasons(at_home, now=NOW, day=away)) == ["companion.absent"]


def test_split_hard_separates_never_overridable_reasons():
    reasons = dosing_reasons(replace(READY, consent_signed=False, preparation_done=0), now=NOW)
    hard, soft = split_hard(reasons)
    assert codes(hard) == ["consent.missing"] and codes(soft) == ["preparation.none"]


# ---- transitions ----------------------------------------------------------------------------


def test_transition_from_wrong_stage_is_refused_in_plain_words():
    reasons = transition_reasons(Action.ACTIVATE, replace(READY, stage=Stage.INQUIRY), now=NOW)
    assert codes(reasons) == ["stage.not_allowed"]
    assert "Inquiry" in reasons[0].message


def test_refer_needs_a_prescriber():
    facts = replace(READY, stage=Stage.INTAKE, prescriber_assigned=False)
    assert codes(transition_reasons(Action.REFER, facts, now=NOW)) == ["referral.no_prescriber"]


def test_eligible_decision_needs_clearance_and_adult():
    facts = replace(READY, stage=Stage.MEDICAL_EVALUATION, clearance_on=None,
                    client_birth_date=date(2010, 1, 1))  # fmt: skip
    assert codes(transition_reasons(Action.DECIDE_ELIGIBLE, facts, now=NOW)) == [
        "clearance.missing",
        "eligibility.age_under_18",
    ]


def test_eighteenth_birthday_counts_as_adult():
    facts = replace(READY, stage=Stage.MEDICAL_EVALUATION, client_birth_date=date(2008, 11, 25))
    assert transition_reasons(Action.DECIDE_ELIGIBLE, facts, now=NOW) == []
    day_before = replace(facts, client_birth_date=date(2008, 11, 26))
    assert codes(transition_reasons(Action.DECIDE_ELIGIBLE, day_before, now=NOW)) == [
        "eligibility.age_under_18"
    ]


def test_activate_lists_every_missing_requirement():
    facts = CourseFacts(stage=Stage.PREPARATION)
    assert codes(transition_reasons(Action.ACTIVATE, facts, now=NOW)) == [
        "consent.missing",
        "eligibility.missing",
        "preparation.none",
        "prescription.missing",
    ]


def test_complete_needs_a_dosing():
    assert codes(transition_reasons(Action.COMPLETE, READY, now=NOW)) == ["dosing.none"]


def test_consent_needs_eligibility():
    facts = CourseFacts(stage=Stage.ELIGIBLE, consent_signed=True)
    assert codes(transition_reasons(Action.RECORD_CONSENT, facts, now=NOW)) == [
        "eligibility.missing"
    ]


def test_confirming_consent_needs_the_clients_current_signature():
    facts = CourseFacts(stage=Stage.ELIGIBLE, eligibility="eligible")
    assert codes(transition_reasons(Action.RECORD_CONSENT, facts, now=NOW)) == ["consent.missing"]
    outdated = replace(facts, consent_outdated=True)
    assert codes(transition_reasons(Action.RECORD_CONSENT, outdated, now=NOW)) == [
        "consent.outdated"
    ]
    at_home = replace(facts, consent_signed=True, delivery=Delivery.AT_HOME)
    assert codes(transition_reasons(Action.RECORD_CONSENT, at_home, now=NOW)) == [
        "consent.telehealth_missing"
    ]
    signed = replace(at_home, telehealth_consent_signed=True)
    assert transition_reasons(Action.RECORD_CONSENT, signed, now=NOW) == []
    # Confirming records no consent fact: the signature is the fact.
    assert apply(signed, Action.RECORD_CONSENT) == replace(signed, stage=Stage.CONSENTED)


def test_closed_course_allows_nothing():
    for stage in (Stage.NOT_ELIGIBLE, Stage.COMPLETED, Stage.DISCHARGED, Stage.WITHDRAWN):
        assert allowed_actions(CourseFacts(stage=stage)) == []


def test_every_closing_step_needs_a_reason():
    for action in (Action.DISCHARGE, Action.WITHDRAW, Action.DECIDE_NOT_ELIGIBLE, Action.COMPLETE):
        assert TRANSITIONS[action].reason_required


# ---- deadlines ----------------------------------------------------------------------------


def test_integration_due_72_hours_after_dosing():
    dosed = NOW - timedelta(hours=71)
    facts = replace(READY, dosing_count=1, last_dosing_at=dosed)
    [item] = [d for d in deadlines(facts, now=NOW) if d.code == "integration.due"]
    assert item.due_at == dosed + timedelta(hours=72) and not item.overdue
    late = deadlines(facts, now=NOW + timedelta(hours=2))
    assert [d.overdue for d in late if d.code == "integration.due"] == [True]
    done = replace(facts, last_integration_at=dosed + timedelta(hours=24))
    assert not [d for d in deadlines(done, now=NOW) if d.code == "integration.due"]


def test_followup_due_after_second_dosing_then_every_90_days():
    second = NOW - timedelta(days=3)
    facts = replace(READY, dosing_count=2, last_dosing_at=second, followup_anchor_at=second,
                    last_integration_at=second)  # fmt: skip
    [item] = [d for d in deadlines(facts, now=NOW) if d.code == "followup.due"]
    assert item.due_at == second + timedelta(days=14)
    seen = replace(facts, last_followup_at=NOW - timedelta(days=1))
    [item] = [d for d in deadlines(seen, now=NOW) if d.code == "followup.due"]
    assert item.due_at == NOW - timedelta(days=1) + timedelta(days=90)
    one_dose = replace(facts, dosing_count=1)
    assert not [d for d in deadlines(one_dose, now=NOW) if d.code == "followup.due"]


def test_preparation_and_rescreen_are_due_without_a_date():
    prep = deadlines(CourseFacts(stage=Stage.CONSENTED), now=NOW)
    assert [(d.code, d.due_at) for d in prep] == [("preparation.due", None)]
    stale = deadlines(replace(READY, last_screen_at=NOW - timedelta(days=8)), now=NOW)
    assert ("screen.due", None) in [(d.code, d.due_at) for d in stale]


def test_next_step_names_what_is_overdue():
    facts = replace(READY, dosing_count=1, last_dosing_at=NOW - timedelta(hours=80))
    assert next_step(facts, now=NOW) == "Integration session is overdue."


def test_blockers_show_the_next_transition_before_dosing():
    assert codes(blockers(CourseFacts(stage=Stage.INTAKE), now=NOW)) == ["referral.no_prescriber"]
    assert blockers(replace(READY, stage=Stage.COMPLETED), now=NOW) == []


# ---- properties ---------------------------------------------------------------------------

# Each advance-known dosing condition: (code it raises, change that makes it fail).
CONDITIONS = {
    "eligibility.missing": {"eligibility": None},
    "clearance.expired": {"clearance_on": date(2025, 1, 1), "clearance_valid_days": 30},
    "prescription.no_doses_left": {"doses_used": 2},
    "consent.missing": {"consent_signed": False},
    "consent.telehealth_missing": {
        "delivery": Delivery.AT_HOME,
        "telehealth_consent_signed": False,
    },
    "preparation.none": {"preparation_done": 0},
    "screen.missing": {"last_screen_at": None},
    "companion.unconfirmed": {"delivery": Delivery.AT_HOME, "companion_confirmed": False},
    "licence.state_mismatch": {"therapist_licensed": False},
    "followup.overdue": {
        "dosing_count": 2,
        "followup_anchor_at": NOW - timedelta(days=20),
        "last_dosing_at": NOW - timedelta(days=20),
        "last_integration_at": NOW - timedelta(days=19),
    },
}


@given(st.sets(st.sampled_from(sorted(CONDITIONS))))
def test_gate_lists_every_failing_reason_in_any_combination(failing):
    facts = READY
    for code in failing:
        facts = replace(facts, **CONDITIONS[code])
    found = set(codes(dosing_reasons(facts, now=NOW)))
    expected = set(failing)
    if "eligibility.missing" in failing:
        expected.discard("clearance.expired")  # clearance only matters once eligible
    assert found == expected


@given(
    st.lists(st.sampled_from(list(Action)), max_size=25),
    st.booleans(),
    st.booleans(),
    st.integers(min_value=0, max_value=2),
)
def test_no_sequence_reaches_active_without_consent_and_eligibility(
    actions, consent, eligible, preparation
):
    facts = CourseFacts(
        stage=Stage.INQUIRY, prescriber_assigned=True, clearance_on=date(2026, 11, 1),
        clearance_valid_days=90, client_birth_date=date(1990, 1, 1), doses_authorised=1,
        prescription_active=True,
        consent_signed=consent, eligibility="eligible" if eligible else None,
        preparation_done=preparation,
    )  # fmt: skip
    for action in actions:
        if transition_reasons(action, facts, now=NOW):
            continue
        facts = apply(facts, action)
        if facts.stage is Stage.ACTIVE:
            assert facts.consent_signed and facts.eligibility == "eligible"
            assert facts.preparation_done >= 1


@given(st.sampled_from(list(Stage)), st.sampled_from(list(Action)))
def test_transition_only_from_its_source_stages(stage, action):
    facts = replace(READY, stage=stage)
    reasons = transition_reasons(action, facts, now=NOW)
    if stage not in TRANSITIONS[action].sources:
        assert codes(reasons) == ["stage.not_allowed"]


def test_dosing_needs_an_assigned_prescriber():
    reasons = dosing_reasons(replace(READY, prescriber_assigned=False), now=NOW)
    assert codes(reasons) == ["referral.no_prescriber"] and not reasons[0].overridable


# ---- integration missed across dosing cycles (issue 6) ------------------------------------

from kapflow.clinical.course import integration_missed_cycles  # noqa: E402


def _two_dosings(**changes):
    """Dosed 10 days ago and 3.5 days ago (past the 72-hour window), nothing integrated."""
    base = {
        "dosing_count": 2,
        "previous_dosing_at": NOW - timedelta(days=10),
        "last_dosing_at": NOW - timedelta(hours=84),
    }
    return replace(READY, **(base | changes))


def test_two_missed_integration_cycles_block_the_next_dosing_hard():
    facts = _two_dosings()
    assert integration_missed_cycles(facts, now=NOW, policy=POLICY) == 2
    [reason] = [r for r in dosing_reasons(facts, now=NOW) if r.code == "integration.overdue"]
    assert not reason.overridable and "last 2 dosing sessions" in reason.message


def test_one_missed_cycle_only_warns_on_the_dashboard():
    # Integrated after the first dosing, not after the second: overdue, not yet blocking.
    facts = _two_dosings(last_integration_at=NOW - timedelta(days=9))
    assert integration_missed_cycles(facts, now=NOW, policy=POLICY) == 1
    assert "integration.overdue" not in codes(dosing_reasons(facts, now=NOW))
    assert [d.overdue for d in deadlines(facts, now=NOW) if d.code == "integration.due"] == [True]


def test_missed_cycle_counts_only_after_the_window_closes():
    # Exactly 72 hours after the dosing the window is still open.
    facts = _two_dosings(last_dosing_at=NOW - timedelta(hours=72))
    assert integration_missed_cycles(facts, now=NOW, policy=POLICY) == 0
    later = NOW + timedelta(seconds=1)
    assert integration_missed_cycles(facts, now=later, policy=POLICY) == 2


def test_an_integration_after_the_last_dosing_clears_the_block():
    facts = _two_dosings(last_integration_at=NOW - timedelta(hours=1))
    assert integration_missed_cycles(facts, now=NOW, policy=POLICY) == 0
    assert "integration.overdue" not in codes(dosing_reasons(facts, now=NOW))


def test_a_first_dosing_missed_counts_once():
    facts = replace(READY, dosing_count=1, last_dosing_at=NOW - timedelta(days=5))
    assert integration_missed_cycles(facts, now=NOW, policy=POLICY) == 1


def test_block_threshold_is_configurable():
    facts = _two_dosings(last_integration_at=NOW - timedelta(days=9))
    strict = GatePolicy(integration_missed_block=1)
    assert "integration.overdue" in codes(dosing_reasons(facts, now=NOW, policy=strict))


def test_week_after_checkin_due_seven_days_after_dosing_until_two_contacts():
    dosed = NOW - timedelta(days=2)
    facts = replace(READY, dosing_count=1, last_dosing_at=dosed, integrations_since_last_dosing=1,
                    last_integration_at=dosed + timedelta(hours=20))  # fmt: skip
    [item] = [d for d in deadlines(facts, now=NOW) if d.code == "integration.checkin"]
    assert item.due_at == dosed + timedelta(days=7) and not item.overdue
    done = replace(facts, integrations_since_last_dosing=2)
    assert not [d for d in deadlines(done, now=NOW) if d.code == "integration.checkin"]
    late = [d for d in deadlines(facts, now=dosed + timedelta(days=8))
            if d.code == "integration.checkin"]  # fmt: skip
    assert [d.overdue for d in late] == [True]
