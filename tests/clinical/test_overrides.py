"""The override table (decision 0029): every dosing-gate reason has an owner; who may and who
may not override each; justifications; a practice tightens, never loosens; risk assessments."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kapflow.clinical import course as course_rules
from kapflow.clinical import overrides as ovr
from kapflow.clinical.reasons import Reason

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
GOOD = ovr.Justification("verified_other_means", "Confirmed by phone with the sister at 09:10.")

# The people the brief names, as the table sees them on one course.
ROLES = {
    "therapist_on_course": ovr.Signer(treating_clinician=True, licensed=True),
    "unlicensed_therapist_on_course": ovr.Signer(treating_clinician=True, licensed=False),
    "another_therapist": ovr.Signer(licensed=True),  # not on the course's therapist side
    "prescriber": ovr.Signer(prescriber=True, licensed=True),
    "practice_admin": ovr.Signer(),
    "client": ovr.Signer(),
}

EXPECTED_OWNER = {
    "clearance.expired": "prescriber",
    "vitals.bp_high": "prescriber",
    "vitals.bp_missing": "prescriber",
    "preparation.none": "treating_clinician",
    "companion.unconfirmed": "treating_clinician",
    "driver.unconfirmed": "treating_clinician",
}


def _gate_codes() -> set[str]:
    """Every code the dosing gate can return, read from the rule book's source."""
    source = Path(course_rules.__file__).read_text()
    start = source.index("def dosing_reasons(")
    end = source.index("def split_hard(")
    helpers = source[
        source.index("def _consent_reasons(") : source.index("def transition_reasons(")
    ]
    gate = source[start:end] + helpers
    return set(re.findall(r'Reason\(\s*"([a-z_]+\.[a-z_0-9]+)"', gate))


def test_every_dosing_gate_reason_has_an_explicit_owner():
    codes = _gate_codes()
    assert {"screen.suicide_risk_positive", "alcohol.not_attested", "vitals.bp_high"} <= codes
    assert codes - set(ovr.DEFAULT_RULES) == set(), "name an owner in clinical/overrides.py"


def test_unknown_codes_belong_to_nobody():
    assert ovr.rule_for("dose.something_new").authority is ovr.Authority.NOBODY


@pytest.mark.parametrize("code", sorted(ovr.DEFAULT_RULES))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_who_may_override_each_reason(code, role):
    rule = ovr.rule_for(code)
    owner = EXPECTED_OWNER.get(code, "nobody")
    assert rule.authority.value == owner
    justification = ovr.Justification(
        rule.categories[0] if rule.categories else "verified_other_means",
        "Checked in person with the client and the clinic nurse.",
    )
    allowed = ovr.why_not(rule, ROLES[role], justification) == ""
    may = {
        "treating_clinician": role == "therapist_on_course",
        "prescriber": role == "prescriber",
        "nobody": False,
    }[owner]
    assert allowed is may, ovr.why_not(rule, ROLES[role], justification)


@pytest.mark.parametrize(
    "code", ["screen.suicide_risk_positive", "screen.missing", "alcohol.not_attested",
             "companion.absent"],
)  # fmt: skip
def test_safety_reasons_are_never_overridable_by_anyone(code):
    for signer in ROLES.values():
        why = ovr.why_not(ovr.rule_for(code), signer, GOOD)
        assert why.startswith("Never overridable")
    assert "risk assessment" in ovr.rule_for("screen.suicide_risk_positive").clears_by


def test_a_one_line_free_text_override_is_never_a_justification():
    rule = ovr.rule_for("driver.unconfirmed")
    therapist = ROLES["therapist_on_course"]
    assert "category" in ovr.why_not(rule, therapist, ovr.Justification("", "testing"))
    assert "rationale" in ovr.why_not(rule, therapist, ovr.Justification(GOOD.category, "ok"))
    wrong = ovr.Justification("prescriber_reviewed", GOOD.rationale)  # not one of its categories
    assert "category" in ovr.why_not(rule, therapist, wrong)
    assert ovr.why_not(rule, therapist, GOOD) == ""


def test_outcome_lists_every_refusal_and_overrides_nothing_when_one_is_refused():
    reasons = [
        Reason("vitals.bp_high", "BP high."),
        Reason("alcohol.not_attested", "No attestation."),
        Reason("driver.unconfirmed", "No driver."),
        Reason("screen.suicide_risk_positive", "Positive screen."),
    ]
    outcome = ovr.override_outcome(
        reasons,
        signer=ROLES["therapist_on_course"],
        justifications={r.code: ovr.Justification("", "testing") for r in reasons},
    )
    assert not outcome.passes and outcome.overridden == []
    assert [(f.reason.code, f.authority.value) for f in outcome.refusals] == [
        ("vitals.bp_high", "prescriber"),
        ("alcohol.not_attested", "nobody"),
        ("driver.unconfirmed", "treating_clinician"),
        ("screen.suicide_risk_positive", "nobody"),
    ]
    assert all(f.why_not for f in outcome.refusals)


def test_a_standing_decision_covers_only_what_its_signer_saw_and_only_for_a_while():
    decision = ovr.StandingDecision("vitals.bp_high", NOW, 170, 95)
    covers = ovr.standing_covers
    assert covers(decision, code="vitals.bp_high", now=NOW, bp_systolic=165, bp_diastolic=95)
    assert not covers(decision, code="vitals.bp_high", now=NOW, bp_systolic=171, bp_diastolic=90)
    later = NOW + timedelta(hours=ovr.STANDING_DECISION_HOURS, minutes=1)
    assert not covers(decision, code="vitals.bp_high", now=later, bp_systolic=150, bp_diastolic=90)
    assert not covers(decision, code="clearance.expired", now=NOW)


def test_covered_codes_pass_but_never_a_nobody_reason():
    reasons = [Reason("vitals.bp_high", "BP high."), Reason("alcohol.not_attested", "No.")]
    outcome = ovr.override_outcome(
        reasons, signer=ROLES["therapist_on_course"], justifications={},
        covered_codes={"vitals.bp_high", "alcohol.not_attested"},
    )  # fmt: skip
    assert [r.code for r in outcome.covered] == ["vitals.bp_high"]
    assert [f.reason.code for f in outcome.refusals] == ["alcohol.not_attested"]


# ---- a practice tightens, never loosens -----------------------------------------------------


def test_a_practice_may_tighten_any_rule():
    table = ovr.practice_table({"driver.unconfirmed": "prescriber", "vitals.bp_high": "nobody"})
    assert table["driver.unconfirmed"].authority is ovr.Authority.PRESCRIBER
    assert table["vitals.bp_high"].authority is ovr.Authority.NOBODY
    assert ovr.why_not(table["driver.unconfirmed"], ROLES["therapist_on_course"], GOOD)
    stamped = ovr.stamp([Reason("vitals.bp_high", "BP high.", overridable=True)], table)
    assert stamped[0].overridable is False


@pytest.mark.parametrize(
    ("setting", "code"),
    [({"vitals.bp_high": "treating_clinician"}, "vitals.bp_high"),
     ({"alcohol.not_attested": "prescriber"}, "alcohol.not_attested"),
     ({"screen.suicide_risk_positive": "treating_clinician"}, "screen.suicide_risk_positive"),
     ({"no.such_code": "nobody"}, "no.such_code"),
     ({"driver.unconfirmed": "anyone"}, "driver.unconfirmed")],
)  # fmt: skip
def test_a_practice_may_never_loosen_a_rule(setting, code):
    assert code in ovr.practice_problems(setting)
    with pytest.raises(ovr.LoosenedRule):
        ovr.practice_table(setting)


def test_the_gate_reads_the_practice_table():
    facts = course_rules.CourseFacts(
        stage=course_rules.Stage.ACTIVE, eligibility="eligible", prescriber_assigned=True,
        prescriber_licensed=True, therapist_licensed=True, prescription_active=True,
        doses_authorised=2, consent_signed=True, preparation_done=1,
        clearance_on=NOW.date(), clearance_valid_days=30, last_screen_at=NOW,
        last_screen_positive=False,
    )  # fmt: skip
    day = course_rules.DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True)
    [default] = course_rules.dosing_reasons(facts, now=NOW, day=day)
    assert (default.code, default.overridable) == ("driver.unconfirmed", True)
    strict = course_rules.GatePolicy(override_authority=(("driver.unconfirmed", "nobody"),))
    [tight] = course_rules.dosing_reasons(facts, now=NOW, day=day, policy=strict)
    assert (tight.code, tight.overridable) == ("driver.unconfirmed", False)


# ---- the structured risk assessment ---------------------------------------------------------

COMPLETE = ovr.RiskAssessment(
    risk_level="low", protective_factors_reviewed=True, safety_plan_reviewed=True,
    means_restriction_discussed=True, decision="proceed",
    rationale="Passive thoughts, no plan or intent; C-SSRS screener low.",
)  # fmt: skip


def test_a_complete_low_risk_assessment_may_proceed_and_clears_the_gate():
    assert ovr.risk_assessment_problems(COMPLETE, licensed=True) == {}
    assert ovr.risk_assessment_clears_gate(COMPLETE, licensed=True)


def test_a_high_risk_level_can_never_proceed():
    from dataclasses import replace

    high = replace(COMPLETE, risk_level="high")
    assert "decision" in ovr.risk_assessment_problems(high, licensed=True)
    assert not ovr.risk_assessment_clears_gate(high, licensed=True)
    assert ovr.risk_assessment_problems(replace(high, decision="higher_care"), licensed=True) == {}


def test_proceed_needs_every_review_and_hold_does_not_clear_the_gate():
    from dataclasses import replace

    bare = ovr.RiskAssessment(risk_level="low", decision="proceed", rationale=COMPLETE.rationale)
    assert set(ovr.risk_assessment_problems(bare, licensed=True)) == {
        "protective_factors_reviewed", "safety_plan_reviewed", "means_restriction_discussed",
    }  # fmt: skip
    hold = replace(COMPLETE, decision="hold")
    assert ovr.risk_assessment_problems(hold, licensed=True) == {}
    assert not ovr.risk_assessment_clears_gate(hold, licensed=True)


def test_free_text_or_an_unlicensed_assessor_is_not_an_assessment():
    free_text = ovr.RiskAssessment(decision="proceed", rationale="testing")
    problems = ovr.risk_assessment_problems(free_text, licensed=True)
    assert {"risk_level", "rationale"} <= set(problems)
    assert "licence" in ovr.risk_assessment_problems(COMPLETE, licensed=False)
    assert not ovr.risk_assessment_clears_gate(COMPLETE, licensed=False)


def test_a_high_level_task_never_proceeds_on_its_day_and_a_lower_level_needs_a_reason():
    from dataclasses import replace

    why = "Collateral from her partner and a plan with no access to means."
    # A high task (C-SSRS Q4/Q5, a typed screen): never "proceed" on the day it was raised,
    # whatever level is chosen, with or without a reason for the lower level.
    same_day = ovr.task_assessment_problems(COMPLETE, task_level="high", same_clinical_day=True)
    assert set(same_day) == {"decision", "downgrade_rationale"}
    assert set(
        ovr.task_assessment_problems(
            COMPLETE, task_level="high", same_clinical_day=True, downgrade_rationale=why
        )
    ) == {"decision"}
    # On a later day a lower level still needs its own written reason.
    later = ovr.task_assessment_problems(COMPLETE, task_level="high", same_clinical_day=False)
    assert set(later) == {"downgrade_rationale"}
    assert "downgrade_rationale" in ovr.task_assessment_problems(
        COMPLETE, task_level="high", same_clinical_day=False, downgrade_rationale="ok"
    )
    assert (
        ovr.task_assessment_problems(
            COMPLETE, task_level="high", same_clinical_day=False, downgrade_rationale=why
        )
        == {}
    )
    # Holding at the task's own level needs nothing more; an unknown level counts as high.
    hold = replace(COMPLETE, decision="hold", risk_level="high")
    assert ovr.task_assessment_problems(hold, task_level="high", same_clinical_day=True) == {}
    assert "decision" in ovr.task_assessment_problems(
        replace(COMPLETE, risk_level="high"), task_level="", same_clinical_day=True
    )
    # A moderate task (PHQ-9 item 9 of 1) may proceed the same day, assessed low.
    assert (
        ovr.task_assessment_problems(COMPLETE, task_level="moderate", same_clinical_day=True) == {}
    )


def test_every_reason_someone_may_override_has_words_for_people():
    from kapflow.clinical import overrides

    assert set(overrides.TIGHTENABLE) <= set(overrides.REASON_LABELS)
    assert all("." not in label for label in overrides.REASON_LABELS.values())
