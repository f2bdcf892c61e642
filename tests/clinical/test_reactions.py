"""Reaction triage: one test per severity rule, the advice each carries, and the checks on
the answers. No database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapflow.clinical.reactions import (
    RANK,
    SYMPTOM_BY_CODE,
    SYMPTOMS,
    ReactionAnswers,
    Severity,
    check_answers,
    help_now_triage,
    reaction_triage,
)


def triage(*symptoms, bp=None):
    systolic, diastolic = bp or (None, None)
    return reaction_triage(
        ReactionAnswers(frozenset(symptoms), bp_systolic=systolic, bp_diastolic=diastolic)
    )


@pytest.mark.parametrize("code", ["chest_pain", "breathing", "unresponsive", "seizure"])
def test_medical_emergency_signs_are_emergencies_that_say_call_911(code):
    result = triage(code)
    assert result.severity == Severity.EMERGENCY
    assert result.call_911 and not result.call_988
    assert result.codes == [code]


def test_thoughts_of_self_harm_are_an_emergency_that_says_988():
    result = triage("self_harm")
    assert result.severity == Severity.EMERGENCY
    assert result.call_988
    # 911 is advised only "if in danger", with the 988 advice, not as the first call.
    assert not result.call_911


def test_self_harm_with_chest_pain_says_both_911_and_988():
    result = triage("self_harm", "chest_pain")
    assert (result.call_911, result.call_988) == (True, True)


@pytest.mark.parametrize("code", ["confusion", "vomiting", "agitation"])
def test_worsening_confusion_unstoppable_vomiting_and_agitation_are_urgent(code):
    result = triage(code)
    assert result.severity == Severity.URGENT
    assert not (result.call_911 or result.call_988)


@pytest.mark.parametrize("bp", [(180, 90), (150, 110), (200, 120)])
def test_blood_pressure_at_or_above_180_over_110_is_urgent(bp):
    result = triage(bp=bp)
    assert result.severity == Severity.URGENT
    assert result.codes == ["bp_very_high"]


@pytest.mark.parametrize("bp", [(179, 109), (140, 90)])
def test_blood_pressure_below_180_over_110_adds_nothing(bp):
    assert triage(bp=bp).severity == Severity.ROUTINE
    assert triage(bp=bp).codes == []


@pytest.mark.parametrize("code", ["nausea", "dizziness", "headache", "anxiety", "low_mood"])
def test_common_after_effects_are_routine(code):
    result = triage(code)
    assert result.severity == Severity.ROUTINE
    assert not (result.call_911 or result.call_988)


def test_a_report_with_nothing_ticked_is_routine():
    assert triage().severity == Severity.ROUTINE


def test_the_most_severe_finding_sets_the_severity():
    assert triage("nausea", "vomiting").severity == Severity.URGENT
    assert triage("nausea", "vomiting", "seizure").severity == Severity.EMERGENCY
    assert triage("headache", bp=(190, 100)).severity == Severity.URGENT


def test_need_help_now_is_always_an_emergency():
    result = help_now_triage()
    assert result.severity == Severity.EMERGENCY
    assert result.codes == ["help_now"]


def test_the_checklist_lists_emergencies_first_in_plain_words():
    ranks = [RANK[s.severity] for s in SYMPTOMS]
    assert ranks == sorted(ranks, reverse=True)
    assert all(s.label and s.label[0].isupper() for s in SYMPTOMS)
    assert len(SYMPTOM_BY_CODE) == len(SYMPTOMS)


def test_check_answers_refuses_unknown_items():
    problems = check_answers(ReactionAnswers(frozenset({"nausea", "made_up"})))
    assert [p.field for p in problems] == ["symptoms"]


def test_check_answers_wants_both_blood_pressure_numbers_or_neither():
    assert [p.field for p in check_answers(ReactionAnswers(bp_systolic=150))] == ["bp_diastolic"]
    assert [p.field for p in check_answers(ReactionAnswers(bp_diastolic=95))] == ["bp_systolic"]


def test_check_answers_refuses_implausible_readings_without_repeating_them():
    problems = check_answers(ReactionAnswers(bp_systolic=1200, bp_diastolic=5))
    assert {p.field for p in problems} == {"bp_systolic", "bp_diastolic"}
    assert all("1200" not in p.message for p in problems)
    inverted = check_answers(ReactionAnswers(bp_systolic=90, bp_diastolic=120))
    assert [p.field for p in inverted] == ["bp_diastolic"]


@given(
    st.sets(st.sampled_from([s.code for s in SYMPTOMS])),
    st.none() | st.integers(50, 300),
    st.none() | st.integers(20, 200),
)
def test_triage_is_never_below_its_most_severe_item(codes, systolic, diastolic):
    result = reaction_triage(ReactionAnswers(frozenset(codes), systolic, diastolic))
    for code in codes:
        assert RANK[result.severity] >= RANK[SYMPTOM_BY_CODE[code].severity]
    assert result.call_911 == any(SYMPTOM_BY_CODE[c].call_911 for c in codes)
