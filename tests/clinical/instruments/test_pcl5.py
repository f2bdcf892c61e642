"""PCL-5: cluster sums, both provisional-PTSD rules, band edges (Weathers 2013; Bovin 2016)."""

import pytest

from kapflow.clinical.instruments import PCL5, PCL5_MEANINGFUL_CHANGE, get
from kapflow.clinical.instruments.pcl5 import PCL5_CLUSTERS
from tests.clinical.instruments.helpers import pcl5, pcl5_endorsing

# The smallest endorsement meeting the DSM-5 rule: 1 B, 1 C, 2 D, 2 E.
DSM_MINIMUM = (1, 6, 8, 9, 15, 16)


def test_pcl5_is_registered_under_its_code():
    assert get("pcl5") is PCL5


def test_pcl5_hand_worked_clusters_and_both_rules():
    answers = pcl5(
        1, 2, 3, 0, 4,  # B: 10, three items >= 2
        2, 0,  # C: 2, one item >= 2
        0, 1, 2, 3, 0, 1, 2,  # D: 9, three items >= 2
        4, 3, 0, 0, 1, 2,  # E: 10, three items >= 2
    )  # fmt: skip
    score = PCL5.score(answers)
    assert score.total == 31
    assert score.band.label == "below threshold"
    assert score.detail == {
        "cluster_b": 10,
        "cluster_c": 2,
        "cluster_d": 9,
        "cluster_e": 10,
        "provisional_ptsd_total": False,
        "provisional_ptsd_dsm": True,
    }


def test_pcl5_dsm_rule_met_by_minimum_endorsement_below_total_cutoff():
    score = PCL5.score(pcl5_endorsing(*DSM_MINIMUM))
    assert score.total == 12
    assert score.detail["provisional_ptsd_dsm"] is True
    assert score.detail["provisional_ptsd_total"] is False


def test_pcl5_item_rated_a_little_bit_is_not_endorsed():
    score = PCL5.score(pcl5_endorsing(*DSM_MINIMUM, level=1))
    assert score.detail["provisional_ptsd_dsm"] is False


@pytest.mark.parametrize(
    ("dropped", "cluster"),
    [(1, "B"), (6, "C"), (8, "D"), (15, "E")],
)
def test_pcl5_dsm_rule_fails_when_one_cluster_falls_short(dropped, cluster):
    numbers = [n for n in DSM_MINIMUM if n != dropped]
    assert PCL5.score(pcl5_endorsing(*numbers)).detail["provisional_ptsd_dsm"] is False


def test_pcl5_high_total_without_avoidance_fails_dsm_rule():
    # Every item but C (6, 7) at 3: total 54, probable PTSD by total, not by the DSM rule.
    numbers = [n for n in range(1, 21) if n not in PCL5_CLUSTERS["C"]]
    score = PCL5.score(pcl5_endorsing(*numbers, level=3))
    assert score.total == 54
    assert score.band.label == "probable PTSD"
    assert score.detail["provisional_ptsd_total"] is True
    assert score.detail["provisional_ptsd_dsm"] is False


def test_pcl5_all_extremely_scores_80():
    score = PCL5.score(pcl5(*[4] * 20))
    assert score.total == 80
    assert score.detail["cluster_d"] == 28


@pytest.mark.parametrize(
    ("total", "label", "provisional"),
    [(0, "below threshold", False), (32, "below threshold", False),
     (33, "probable PTSD", True), (80, "probable PTSD", True)],
)  # fmt: skip
def test_pcl5_band_edges(total, label, provisional):
    score = PCL5.score_total(total)
    assert score.band.label == label
    assert score.detail == {"provisional_ptsd_total": provisional}


def test_pcl5_ships_no_item_wording():
    assert all(item.text is None for item in PCL5.items)
    labels = {item.id: item.label for item in PCL5.items}
    assert labels["pcl5_1"] == "Item 1 (cluster B)"
    assert labels["pcl5_7"] == "Item 7 (cluster C)"
    assert labels["pcl5_14"] == "Item 14 (cluster D)"
    assert labels["pcl5_20"] == "Item 20 (cluster E)"


def test_pcl5_change_rules_and_codes():
    assert (PCL5.response_drop, PCL5.remission_max) == (None, None)
    assert PCL5_MEANINGFUL_CHANGE == 10
    assert (PCL5.loinc_panel, PCL5.loinc_total) == ("101697-1", "101698-9")
    assert [o.label for o in PCL5.items[0].options] == [
        "Not at all",
        "A little bit",
        "Moderately",
        "Quite a bit",
        "Extremely",
    ]
