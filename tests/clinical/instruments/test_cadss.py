"""CADSS: total-only entry (author permission; Bremner 1998) and its practice bands."""

import pytest

from kapflow.clinical.instruments import CADSS, Entry, get


def test_cadss_is_total_entry_with_no_items():
    assert get("cadss") is CADSS
    assert CADSS.entry is Entry.TOTAL
    assert CADSS.items == ()
    assert CADSS.respondent == "clinician"
    assert (CADSS.loinc_panel, CADSS.loinc_total) == (None, None)
    assert (CADSS.min_total, CADSS.max_total) == (0, 92)


def test_cadss_hand_entered_total_scores():
    score = CADSS.score_total(27)
    assert (score.total, score.band.label, score.band.severity, score.detail) == (
        27,
        "moderate",
        2,
        {},
    )


@pytest.mark.parametrize(
    ("total", "label"),
    [
        (0, "none"),
        (1, "mild"),
        (19, "mild"),
        (20, "moderate"),
        (39, "moderate"),
        (40, "marked"),
        (92, "marked"),
    ],
)
def test_cadss_band_edges(total, label):
    assert CADSS.band_for(total).label == label


def test_cadss_total_missing():
    errors = CADSS.validate_total(None)
    assert [(e.item_id, e.code) for e in errors] == [(None, "total.missing")]


@pytest.mark.parametrize("total", [-1, 93, 20.5, "20", True])
def test_cadss_total_out_of_range_or_not_whole_number(total):
    errors = CADSS.validate_total(total)
    assert [(e.item_id, e.code) for e in errors] == [(None, "total.out_of_range")]
    with pytest.raises(ValueError):
        CADSS.score_total(total)


def test_cadss_cannot_be_scored_item_by_item():
    assert [e.code for e in CADSS.validate({})] == ["total.missing"]
    errors = CADSS.validate({"cadss_1": 2})
    assert [(e.item_id, e.code) for e in errors] == [
        (None, "total.missing"),
        ("cadss_1", "answer.unknown_item"),
    ]
    with pytest.raises(ValueError):
        CADSS.score({})


def test_cadss_has_no_change_rules():
    assert (CADSS.response_drop, CADSS.remission_max) == (None, None)
