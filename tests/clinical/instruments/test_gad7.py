"""GAD-7: hand-worked scores and every band edge (Spitzer 2006)."""

import pytest

from kapflow.clinical.instruments import GAD7, get
from tests.clinical.instruments.helpers import gad7


def test_gad7_is_registered_under_its_code():
    assert get("gad7") is GAD7


def test_gad7_hand_worked_total_is_nine_mild():
    # 2 + 1 + 0 + 3 + 1 + 2 + 0 = 9
    score = GAD7.score(gad7(2, 1, 0, 3, 1, 2, 0))
    assert (score.total, score.band.label) == (9, "mild")
    assert score.detail == {}


def test_gad7_all_nearly_every_day_scores_21_severe():
    score = GAD7.score(gad7(3, 3, 3, 3, 3, 3, 3))
    assert (score.total, score.band.label, score.band.severity) == (21, "severe", 3)


@pytest.mark.parametrize(
    ("total", "label"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_band_edges(total, label):
    assert GAD7.band_for(total).label == label


@pytest.mark.parametrize("total", [-1, 22])
def test_gad7_totals_outside_0_to_21_are_refused(total):
    with pytest.raises(ValueError):
        GAD7.score_total(total)


def test_gad7_has_no_safety_rule():
    assert GAD7.safety(gad7(3, 3, 3, 3, 3, 3, 3)) == []


def test_gad7_codes_and_wording():
    assert (GAD7.loinc_panel, GAD7.loinc_total) == ("69737-5", "70274-6")
    assert [item.id for item in GAD7.items] == [f"gad7_{n}" for n in range(1, 8)]
    assert all(item.text for item in GAD7.items)
    assert (GAD7.response_drop, GAD7.remission_max) == (0.5, 4)
