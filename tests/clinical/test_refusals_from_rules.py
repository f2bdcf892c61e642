"""Refusals the services used to build themselves, now produced by the pure rules (issue 20):
what blocks an "eligible" signature (eligibility.eligible_reasons) and what blocks writing a
prescription (course.prescribing_reasons). Hard versus soft is pinned for each."""

import pytest

from kapflow.clinical import course as rules
from kapflow.clinical.eligibility import Finding, Severity, eligible_reasons


def _finding(code: str, severity: Severity) -> Finding:
    return Finding(code=code, severity=severity, message=f"{code} seen.", source="screen")


FINDINGS = [
    _finding("bp.missing", Severity.MISSING),
    _finding("condition.psychosis", Severity.EXCLUDE),
    _finding("medication.maoi", Severity.INTERACTION),
    _finding("bmi.high", Severity.RELATIVE),
    _finding("medication.unrecognised", Severity.UNRECOGNISED),
    _finding("age.missing", Severity.MISSING),
]


def test_missing_information_blocks_hard_and_exclusions_soft_until_confirmed():
    reasons = eligible_reasons(FINDINGS, exclusions_acknowledged=False)
    assert [(r.code, r.overridable) for r in reasons] == [
        ("bp.missing", False),
        ("age.missing", False),
        ("condition.psychosis", True),
    ]
    assert reasons[0].message == "Still missing: bp.missing seen."
    assert reasons[2].message == (
        "Exclusion found: condition.psychosis seen. Confirm you reviewed it to decide eligible."
    )


def test_a_confirmed_exclusion_no_longer_blocks_but_missing_information_still_does():
    reasons = eligible_reasons(FINDINGS, exclusions_acknowledged=True)
    assert [(r.code, r.overridable) for r in reasons] == [
        ("bp.missing", False),
        ("age.missing", False),
    ]


def test_relative_interaction_and_unrecognised_findings_never_block_the_signature_here():
    weighed = [f for f in FINDINGS if f.severity not in (Severity.MISSING, Severity.EXCLUDE)]
    assert eligible_reasons(weighed, exclusions_acknowledged=False) == []
    assert eligible_reasons(iter(FINDINGS), exclusions_acknowledged=False)  # any iterable


@pytest.mark.parametrize("stage", sorted(rules.PRESCRIBING_STAGES, key=lambda s: s.value))
def test_an_eligible_licensed_course_may_be_prescribed_for_in_every_prescribing_stage(stage):
    facts = rules.CourseFacts(stage=stage, eligibility="eligible", prescriber_licensed=True)
    assert rules.prescribing_reasons(facts) == []


@pytest.mark.parametrize(
    "stage", sorted(set(rules.Stage) - rules.PRESCRIBING_STAGES, key=lambda s: s.value)
)
def test_no_prescription_outside_the_prescribing_stages_even_when_eligible(stage):
    facts = rules.CourseFacts(stage=stage, eligibility="eligible", prescriber_licensed=True)
    assert [(r.code, r.overridable) for r in rules.prescribing_reasons(facts)] == [
        ("eligibility.missing", False)
    ]


def test_no_signed_eligible_decision_and_no_licence_are_both_hard_and_both_given():
    facts = rules.CourseFacts(
        stage=rules.Stage.ACTIVE, eligibility="not_eligible", prescriber_licensed=False
    )
    reasons = rules.prescribing_reasons(facts)
    assert [(r.code, r.overridable) for r in reasons] == [
        ("eligibility.missing", False),
        ("licence.state_mismatch", False),
    ]
    assert reasons[1].message == "You hold no current licence in the state where the client is."
    assert (
        rules.prescribing_reasons(
            rules.CourseFacts(stage=rules.Stage.ACTIVE, eligibility=None, prescriber_licensed=True)
        )[0].message
        == "Prescribe only after a signed eligible decision."
    )


def test_the_prescribing_stages_are_eligible_to_maintenance():
    assert {
        rules.Stage.ELIGIBLE, rules.Stage.CONSENTED, rules.Stage.PREPARATION,
        rules.Stage.ACTIVE, rules.Stage.MAINTENANCE,
    } == rules.PRESCRIBING_STAGES  # fmt: skip
