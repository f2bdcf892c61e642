"""C-SSRS screener (recent): every answer combination against the Columbia triage rules,
the conditional 3-month question, and the safety flags that stop dosing."""

import itertools

import pytest

from kapflow.clinical.instruments import CSSRS, get
from tests.clinical.instruments.helpers import cssrs

ABSENT = object()  # "q6_recent" left out of the answer set


def expected_risk(q1, q2, q3, q4, q5, q6, recent):
    """Columbia screener triage, written out independently of the implementation: the
    highest level any yes answer reaches."""
    levels = ["none"]
    if q1 or q2:
        levels.append("low")
    if q3:
        levels.append("moderate")
    if q6 and recent == 0:
        levels.append("moderate")  # behaviour, but not in the past 3 months
    if q4 or q5:
        levels.append("high")
    if q6 and recent == 1:
        levels.append("high")
    order = ["none", "low", "moderate", "high"]
    return max(levels, key=order.index)


def expected_valid(q6, recent):
    if q6 == 1:
        return recent in (0, 1)
    return recent is ABSENT or recent == 0


COMBINATIONS = [
    (*questions, recent)
    for questions in itertools.product((0, 1), repeat=6)
    for recent in (ABSENT, 0, 1)
]


def _answers(q1, q2, q3, q4, q5, q6, recent):
    answers = cssrs(q1, q2, q3, q4, q5, q6)
    if recent is not ABSENT:
        answers["q6_recent"] = recent
    return answers


def test_every_combination_is_enumerated():
    assert len(COMBINATIONS) == 64 * 3


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_cssrs_every_combination_matches_triage_rules(combo):
    answers = _answers(*combo)
    q6, recent = combo[5], combo[6]
    errors = CSSRS.validate(answers)
    if not expected_valid(q6, recent):
        assert [(e.item_id, e.code) for e in errors] == [
            ("q6_recent", "answer.missing" if q6 == 1 else "answer.out_of_range")
        ]
        with pytest.raises(ValueError):
            CSSRS.score(answers)
        return
    assert errors == []
    risk = expected_risk(*combo)
    score = CSSRS.score(answers)
    assert score.band.label == risk
    assert score.detail == {"risk": risk}
    assert score.total == ["none", "low", "moderate", "high"].index(risk)
    flags = {"high": [("cssrs.high_risk", "high")],
             "moderate": [("cssrs.moderate_risk", "moderate")]}.get(risk, [])  # fmt: skip
    assert [(f.code, f.level) for f in CSSRS.safety(answers)] == flags


def test_cssrs_all_no_is_no_risk():
    score = CSSRS.score(cssrs())
    assert (score.total, score.detail) == (0, {"risk": "none"})
    assert CSSRS.safety(cssrs()) == []


def test_cssrs_wish_to_be_dead_only_is_low_risk_without_flag():
    assert CSSRS.score(cssrs(q1=1)).detail == {"risk": "low"}
    assert CSSRS.safety(cssrs(q1=1)) == []


def test_cssrs_method_without_intent_is_moderate():
    assert CSSRS.score(cssrs(q1=1, q2=1, q3=1)).detail == {"risk": "moderate"}


def test_cssrs_lifetime_behaviour_only_is_moderate():
    answers = cssrs(q6=1, q6_recent=0)
    assert CSSRS.score(answers).detail == {"risk": "moderate"}
    assert [f.code for f in CSSRS.safety(answers)] == ["cssrs.moderate_risk"]


def test_cssrs_recent_behaviour_is_high_and_says_do_not_dose():
    answers = cssrs(q6=1, q6_recent=1)
    assert CSSRS.score(answers).detail == {"risk": "high"}
    (flag,) = CSSRS.safety(answers)
    assert (flag.code, flag.level) == ("cssrs.high_risk", "high")
    assert "today" in flag.message
    assert "do not dose" in flag.message


@pytest.mark.parametrize("question", ["q4", "q5"])
def test_cssrs_intent_or_plan_is_high(question):
    assert CSSRS.score(cssrs(**{question: 1})).detail == {"risk": "high"}


def test_cssrs_recent_question_required_when_q6_is_yes():
    errors = CSSRS.validate(cssrs(q6=1))
    assert [(e.item_id, e.code) for e in errors] == [("q6_recent", "answer.missing")]


def test_cssrs_recent_question_may_be_no_or_absent_when_q6_is_no():
    assert CSSRS.validate(cssrs(q6=0)) == []
    assert CSSRS.validate(cssrs(q6=0, q6_recent=0)) == []


def test_cssrs_recent_yes_contradicts_q6_no():
    errors = CSSRS.validate(cssrs(q6=0, q6_recent=1))
    assert [(e.item_id, e.code) for e in errors] == [("q6_recent", "answer.out_of_range")]


def test_cssrs_unknown_recency_is_treated_as_high_risk_for_safety():
    # The set cannot be scored yet, but an unanswered 3-month question must not hide risk.
    assert [f.level for f in CSSRS.safety(cssrs(q6=1))] == ["high"]


def test_cssrs_missing_q6_is_reported_once():
    answers = cssrs()
    del answers["q6"]
    errors = CSSRS.validate(answers)
    assert [(e.item_id, e.code) for e in errors] == [("q6", "answer.missing")]


def test_cssrs_ships_no_question_wording():
    assert get("cssrs") is CSSRS
    assert all(item.text is None for item in CSSRS.items)
    assert [item.label for item in CSSRS.items] == [
        "Question 1",
        "Question 2",
        "Question 3",
        "Question 4",
        "Question 5",
        "Question 6",
        "Question 6: within the past 3 months?",
    ]
    assert [item.loinc for item in CSSRS.items] == [
        "93246-7",
        "93247-5",
        "93248-3",
        "93249-1",
        "93250-9",
        "93267-3",
        "93269-9",
    ]
    assert (CSSRS.loinc_panel, CSSRS.loinc_total) == ("93373-9", "93374-7")
    assert [(o.value, o.label) for o in CSSRS.items[0].options] == [(0, "No"), (1, "Yes")]


@pytest.mark.parametrize(
    ("total", "label"), [(0, "none"), (1, "low"), (2, "moderate"), (3, "high")]
)
def test_cssrs_band_edges(total, label):
    score = CSSRS.score_total(total)
    assert (score.band.label, score.band.severity, score.detail) == (label, total, {"risk": label})


@pytest.mark.parametrize("total", [-1, 4])
def test_cssrs_rank_outside_0_to_3_is_refused(total):
    assert [e.code for e in CSSRS.validate_total(total)] == ["total.out_of_range"]


def test_cssrs_invalid_q6_is_reported_without_a_recency_error():
    errors = CSSRS.validate(cssrs(q6=1.0))
    assert [(e.item_id, e.code) for e in errors] == [("q6", "answer.out_of_range")]
