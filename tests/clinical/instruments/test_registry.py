"""The registry as a whole: its keys, the shape every definition must keep, validation that
names every problem, the change rules, and properties over all answer sets."""

import dataclasses
import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kapflow.clinical import instruments
from kapflow.clinical.instruments import (
    PHQ9,
    REGISTRY,
    AnswerError,
    Band,
    Entry,
    Instrument,
    Score,
    change_from_baseline,
    get,
    is_remission,
    is_response,
)
from tests.clinical.instruments.helpers import phq9

ITEM_INSTRUMENTS = [i for i in REGISTRY.values() if i.entry is Entry.ITEMS]
SUM_INSTRUMENTS = [i for i in ITEM_INSTRUMENTS if i.code != "cssrs"]  # C-SSRS total is a rank
PROPERTY = settings(database=None, deadline=None, max_examples=200)


# ---- the registry ---------------------------------------------------------------------------


def test_registry_has_exactly_the_five_instruments():
    assert list(REGISTRY) == ["phq9", "gad7", "pcl5", "cssrs", "cadss"]
    assert all(code == inst.code for code, inst in REGISTRY.items())


def test_get_unknown_code_raises_key_error():
    with pytest.raises(KeyError):
        get("madrs")


def test_package_exports_the_agreed_interface():
    for name in [
        "Option", "Item", "Band", "AnswerError", "SafetyFlag", "Score", "Entry", "Instrument",
        "REGISTRY", "get", "is_response", "is_remission", "change_from_baseline",
    ]:  # fmt: skip
        assert hasattr(instruments, name), name


def test_definitions_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PHQ9.max_total = 30  # type: ignore[misc]


@pytest.mark.parametrize("instrument", list(REGISTRY.values()), ids=list(REGISTRY))
def test_bands_tile_the_score_range_with_rising_severity(instrument):
    bands = instrument.bands
    assert bands[0].low == instrument.min_total
    assert bands[-1].high == instrument.max_total
    assert all(b.low == a.high + 1 for a, b in itertools.pairwise(bands))
    assert [b.severity for b in bands] == list(range(len(bands)))
    assert instrument.respondent in {"self", "clinician"}
    assert instrument.higher_is_worse is True
    assert instrument.licence


@pytest.mark.parametrize("instrument", SUM_INSTRUMENTS, ids=lambda i: i.code)
def test_max_total_is_the_sum_of_the_highest_answers(instrument):
    scored = [i for i in instrument.items if i.scored]
    assert instrument.max_total == sum(max(i.values) for i in scored)
    assert instrument.min_total == sum(min(i.values) for i in scored)


def test_item_text_ships_only_where_the_licence_allows():
    with_text = {code for code, inst in REGISTRY.items() if any(i.text for i in inst.items)}
    assert with_text == {"phq9", "gad7"}
    for inst in REGISTRY.values():
        assert all(item.label for item in inst.items)


def test_a_gap_between_bands_is_refused():
    with pytest.raises(ValueError, match="do not meet"):
        dataclasses.replace(PHQ9, bands=(Band(0, 4, "low", 0), Band(6, 27, "high", 1)))


def test_bands_not_reaching_max_total_are_refused():
    with pytest.raises(ValueError, match="min_total to max_total"):
        dataclasses.replace(PHQ9, bands=(Band(0, 20, "all", 0),))


def test_items_on_a_total_entry_instrument_are_refused():
    with pytest.raises(ValueError, match="total-entry"):
        dataclasses.replace(PHQ9, entry=Entry.TOTAL)


# ---- validation names every problem ----------------------------------------------------------


def test_validate_complete_answers_has_no_errors():
    assert PHQ9.validate(phq9(0, 1, 2, 3, 0, 1, 2, 3, 0)) == []


def test_validate_lists_every_error_naming_its_item():
    answers = phq9(0, 1, 2, 3, 0, 1, 2, 3, 0)
    del answers["phq9_3"]
    answers["phq9_5"] = 4
    answers["phq9_6"] = -1
    answers["phq9_7"] = "2"
    answers["phq9_8"] = 2.0
    answers["phq9_10"] = 1
    errors = PHQ9.validate(answers)
    assert [(e.item_id, e.code) for e in errors] == [
        ("phq9_3", "answer.missing"),
        ("phq9_5", "answer.out_of_range"),
        ("phq9_6", "answer.out_of_range"),
        ("phq9_7", "answer.out_of_range"),
        ("phq9_8", "answer.out_of_range"),
        ("phq9_10", "answer.unknown_item"),
    ]
    assert all(isinstance(e, AnswerError) and e.message for e in errors)
    assert "Item 3" in errors[0].message
    assert "0–3" in errors[1].message


@pytest.mark.parametrize("value", [None, True, 1.5, "1", [1]])
def test_validate_refuses_answers_that_are_not_whole_numbers(value):
    answers = phq9(0, 0, 0, 0, 0, 0, 0, 0, 0) | {"phq9_4": value}
    assert [(e.item_id, e.code) for e in PHQ9.validate(answers)] == [
        ("phq9_4", "answer.out_of_range")
    ]


def test_validate_empty_answers_reports_each_required_item():
    errors = PHQ9.validate({})
    assert [e.item_id for e in errors] == [f"phq9_{n}" for n in range(1, 10)]
    assert {e.code for e in errors} == {"answer.missing"}


def test_score_refuses_invalid_answers():
    with pytest.raises(ValueError, match="Item 3"):
        PHQ9.score({"phq9_1": 0})


def test_messages_do_not_repeat_the_answer_given():
    answers = phq9(0, 0, 0, 0, 0, 0, 0, 0, 0) | {"phq9_2": 987654}
    (error,) = PHQ9.validate(answers)
    assert "987654" not in error.message


def test_validate_total_missing_and_out_of_range():
    assert [e.code for e in PHQ9.validate_total(None)] == ["total.missing"]
    assert [e.code for e in PHQ9.validate_total(28)] == ["total.out_of_range"]
    assert PHQ9.validate_total(27) == []


# ---- change over a course --------------------------------------------------------------------


def test_exactly_half_the_baseline_is_a_response():
    assert is_response(PHQ9, 20, 10) is True


def test_just_under_half_is_not_a_response():
    assert is_response(PHQ9, 20, 11) is False


def test_odd_baseline_needs_the_full_half():
    # 50% of 21 is 10.5: a drop of 11 is a response, a drop of 10 is not.
    assert is_response(PHQ9, 21, 10) is True
    assert is_response(PHQ9, 21, 11) is False


def test_worsening_is_not_a_response():
    assert is_response(PHQ9, 10, 15) is False


def test_response_undefined_from_zero_baseline():
    assert is_response(PHQ9, 0, 0) is None


@pytest.mark.parametrize("code", ["pcl5", "cssrs", "cadss"])
def test_response_and_remission_undefined_where_the_instrument_has_none(code):
    assert is_response(get(code), 40, 10) is None
    assert is_remission(get(code), 0) is None


def test_fractional_response_threshold_is_exact():
    inst = dataclasses.replace(PHQ9, response_drop=0.35)
    assert is_response(inst, 20, 13) is True  # drop 7 is exactly 35%
    assert is_response(inst, 20, 14) is False


@pytest.mark.parametrize(("code", "total", "remitted"), [
    ("phq9", 4, True), ("phq9", 5, False), ("gad7", 4, True), ("gad7", 5, False),
])  # fmt: skip
def test_remission_edges(code, total, remitted):
    assert is_remission(get(code), total) is remitted


def test_change_from_baseline_is_current_minus_baseline():
    assert change_from_baseline(20, 12) == -8
    assert change_from_baseline(12, 20) == 8
    assert change_from_baseline(5, 5) == 0


# ---- properties ------------------------------------------------------------------------------


@st.composite
def answer_sets(draw, instrument: Instrument) -> dict:
    """A complete answer set: every required item, some optional ones, only valid values."""
    answers = {}
    for item in instrument.items:
        if item.required or draw(st.booleans()):
            answers[item.id] = draw(st.sampled_from(sorted(item.values)))
    return answers


@pytest.mark.parametrize("instrument", ITEM_INSTRUMENTS, ids=lambda i: i.code)
@PROPERTY
@given(data=st.data())
def test_any_valid_answer_set_scores_inside_its_range_and_band(instrument, data):
    answers = data.draw(answer_sets(instrument))
    assume(instrument.validate(answers) == [])  # C-SSRS: the conditional 3-month question
    score = instrument.score(answers)
    assert isinstance(score, Score)
    assert instrument.min_total <= score.total <= instrument.max_total
    assert score.band.low <= score.total <= score.band.high
    assert score.band == instrument.band_for(score.total)
    assert instrument.score_total(score.total).band == score.band


@pytest.mark.parametrize("instrument", SUM_INSTRUMENTS, ids=lambda i: i.code)
@PROPERTY
@given(data=st.data())
def test_sum_instruments_total_is_the_sum_of_scored_answers(instrument, data):
    answers = data.draw(answer_sets(instrument))
    scored = {i.id for i in instrument.items if i.scored}
    assert instrument.score(answers).total == sum(v for k, v in answers.items() if k in scored)


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip


@pytest.mark.parametrize("instrument", list(REGISTRY.values()), ids=list(REGISTRY))
@PROPERTY
@given(data=st.data())
def test_validate_and_safety_never_raise_on_any_input(instrument, data):
    ids = [i.id for i in instrument.items] + ["other"]
    keys = st.one_of(st.sampled_from(ids), st.text(max_size=5))
    answers = data.draw(st.dictionaries(keys, JUNK, max_size=25))
    errors = instrument.validate(answers)
    assert all(isinstance(e, AnswerError) for e in errors)
    flags = instrument.safety(answers)
    assert all(f.level in {"moderate", "high"} for f in flags)
    if errors:
        with pytest.raises(ValueError):
            instrument.score(answers)


@PROPERTY
@given(answers=answer_sets(PHQ9))
def test_phq9_flags_exactly_when_item9_is_positive(answers):
    assert bool(PHQ9.safety(answers)) == (answers["phq9_9"] > 0)


@PROPERTY
@given(baseline=st.integers(1, 27), current=st.integers(0, 27))
def test_response_matches_the_integer_rule(baseline, current):
    assert is_response(PHQ9, baseline, current) == (2 * (baseline - current) >= baseline)
