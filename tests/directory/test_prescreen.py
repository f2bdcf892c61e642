"""The pre-screen and the prescriber's evaluation screen are one rule: the pre-screen's
findings are eligibility_screen's findings for the same facts, and it calls that function."""

from datetime import date

import pytest

from kapflow.clinical import directory as rules
from kapflow.clinical import eligibility

TODAY = date(2026, 12, 7)
NO = dict.fromkeys(rules.YES_NO, False)


def answers(**overrides):
    base = {"age": 40, "state": "OR", "yes": NO, "pregnancy": "no", "in_therapy": True}
    return rules.PrescreenAnswers(**(base | overrides))


def test_prescreen_calls_the_evaluation_screen(monkeypatch):
    seen = []
    real = eligibility.eligibility_screen

    def spy(evaluation, **kwargs):
        seen.append(evaluation)
        return real(evaluation, **kwargs)

    monkeypatch.setattr(eligibility, "eligibility_screen", spy)
    rules.prescreen(answers(), today=TODAY)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"age": 17},
        {"yes": NO | {"psychosis": True}},
        {"yes": NO | {"mania": True}},
        {"yes": NO | {"heart": True}},
        {"yes": NO | {"substance": True}},
        {"pregnancy": "pregnant"},
        {"pregnancy": "unsure"},
        {"medicines": ("maoi",)},
        {"medicines": ("stimulant", "lamotrigine")},
        {"in_therapy": False},
    ],
)
def test_findings_are_the_evaluation_screens(overrides):
    a = answers(**overrides)
    expected = [
        f.code
        for f in eligibility.eligibility_screen(rules.evaluation_input(a, today=TODAY))
        if f.code not in rules._NOT_ASKED
    ]
    assert list(rules.prescreen(a, today=TODAY).finding_codes) == expected


def test_nothing_found_is_likely_a_fit():
    assert rules.prescreen(answers(), today=TODAY).fit is rules.Fit.LIKELY


def test_exclusion_is_not_a_fit_with_alternatives():
    g = rules.prescreen(answers(yes=NO | {"psychosis": True}), today=TODAY)
    assert g.fit is rules.Fit.NOT_A_FIT
    assert "a history of psychosis" in g.topics
    assert g.alternatives


def test_under_18_is_not_a_fit():
    assert rules.prescreen(answers(age=17), today=TODAY).fit is rules.Fit.NOT_A_FIT


def test_interaction_is_talk_to_a_clinician():
    g = rules.prescreen(answers(medicines=("maoi",)), today=TODAY)
    assert g.fit is rules.Fit.DISCUSS
    assert g.topics == ("your MAOI medicine and blood pressure",)


def test_self_harm_is_crisis_and_nothing_else():
    g = rules.prescreen(answers(yes=NO | {"self_harm": True}), today=TODAY)
    assert g.fit is rules.Fit.CRISIS
    assert g.topics == ()


def test_age_becomes_a_birth_date_of_that_age():
    from kapflow.clinical.course import age_on

    for age in (18, 40, 90):
        assert age_on(rules.birth_date_for_age(age, TODAY), TODAY) == age
    leap = date(2028, 2, 29)
    assert age_on(rules.birth_date_for_age(18, leap), leap) == 18


def test_every_medicine_category_is_in_the_catalogue():
    from kapflow.clinical.medications import medications_named

    for key, (_label, name) in rules.MEDICINE_CATEGORIES.items():
        assert medications_named(name), key
