"""PHQ-9: hand-worked scores, every band edge, the item 9 safety rule (Kroenke 2001)."""

import pytest

from kapflow.clinical.instruments import PHQ9, get
from tests.clinical.instruments.helpers import phq9


def test_phq9_is_registered_under_its_code():
    assert get("phq9") is PHQ9


def test_phq9_hand_worked_total_is_ten_moderate():
    # 1 + 2 + 0 + 3 + 1 + 0 + 2 + 1 + 0 = 10
    score = PHQ9.score(phq9(1, 2, 0, 3, 1, 0, 2, 1, 0))
    assert score.total == 10
    assert score.band.label == "moderate"
    assert score.detail == {}


def test_phq9_all_not_at_all_scores_zero_minimal():
    score = PHQ9.score(phq9(0, 0, 0, 0, 0, 0, 0, 0, 0))
    assert (score.total, score.band.label, score.band.severity) == (0, "minimal", 0)


def test_phq9_all_nearly_every_day_scores_27_severe():
    score = PHQ9.score(phq9(3, 3, 3, 3, 3, 3, 3, 3, 3))
    assert (score.total, score.band.label, score.band.severity) == (27, "severe", 4)


def test_phq9_difficulty_item_is_optional_and_not_scored():
    answers = phq9(1, 1, 1, 1, 1, 1, 1, 1, 1)
    assert PHQ9.validate(answers) == []
    assert PHQ9.score(answers | {"phq9_difficulty": 3}).total == 9


def test_phq9_difficulty_item_out_of_range_is_an_error():
    errors = PHQ9.validate(phq9(0, 0, 0, 0, 0, 0, 0, 0, 0, phq9_difficulty=4))
    assert [(e.item_id, e.code) for e in errors] == [("phq9_difficulty", "answer.out_of_range")]


@pytest.mark.parametrize(
    ("total", "label"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_band_edges(total, label):
    assert PHQ9.band_for(total).label == label
    assert PHQ9.score_total(total).band.label == label


@pytest.mark.parametrize("total", [-1, 28])
def test_phq9_totals_outside_0_to_27_have_no_band(total):
    with pytest.raises(ValueError):
        PHQ9.band_for(total)
    assert [e.code for e in PHQ9.validate_total(total)] == ["total.out_of_range"]


@pytest.mark.parametrize(("item9", "level"), [(1, "moderate"), (2, "high"), (3, "high")])
def test_phq9_item9_positive_raises_safety_flag(item9, level):
    flags = PHQ9.safety(phq9(0, 0, 0, 0, 0, 0, 0, 0, item9))
    assert [(f.code, f.level) for f in flags] == [("phq9.item9_positive", level)]
    assert "today" in flags[0].message
    assert "C-SSRS" in flags[0].message


def test_phq9_item9_zero_raises_no_flag_even_when_severe():
    assert PHQ9.safety(phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)) == []


def test_phq9_item9_flag_is_raised_from_an_incomplete_answer_set():
    # A half-finished form must still surface the risk.
    assert [f.code for f in PHQ9.safety({"phq9_9": 2})] == ["phq9.item9_positive"]


def test_phq9_item_text_and_loinc_ship():
    items = {item.id: item for item in PHQ9.items}
    assert items["phq9_1"].text == "Little interest or pleasure in doing things"
    assert items["phq9_9"].loinc == "44260-8"
    assert items["phq9_9"].label == "Item 9"
    assert [o.label for o in items["phq9_1"].options] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]
    assert (PHQ9.loinc_panel, PHQ9.loinc_total) == ("44249-1", "44261-6")
    assert len([i for i in PHQ9.items if i.scored]) == 9
    difficulty = items["phq9_difficulty"]
    assert (difficulty.required, difficulty.scored) == (False, False)
