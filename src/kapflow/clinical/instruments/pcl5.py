"""PCL-5: PTSD Checklist for DSM-5, twenty items, self-report, past month.

Sources: Weathers FW, Litz BT, Keane TM, et al. The PTSD Checklist for DSM-5 (PCL-5). National
Center for PTSD, 2013 (items 0-4, 0-80 total, DSM-5 clusters B 1-5, C 6-7, D 8-14, E 15-20,
and the provisional-diagnosis rule: an item rated 2 "Moderately" or higher counts as endorsed;
PTSD needs >= 1 B, >= 1 C, >= 2 D and >= 2 E). Bovin MJ, et al. Psychol Assess
2016;28(11):1379-91 (cut-off 31-33; we use 33, the NCPTSD suggestion). NCPTSD: a 10-point
change is clinically meaningful, 5 points is reliable change (verify).

Licence: public domain per NCPTSD (verify). Until that is confirmed we ship no item wording:
items carry only neutral labels and the form shows the paper checklist's numbering.
"""

from kapflow.clinical.instruments.base import Band, Entry, Instrument, Item, Option

OPTIONS = (
    Option(0, "Not at all"),
    Option(1, "A little bit"),
    Option(2, "Moderately"),
    Option(3, "Quite a bit"),
    Option(4, "Extremely"),
)

# DSM-5 symptom clusters by item number.
PCL5_CLUSTERS: dict[str, tuple[int, ...]] = {
    "B": (1, 2, 3, 4, 5),  # intrusion
    "C": (6, 7),  # avoidance
    "D": (8, 9, 10, 11, 12, 13, 14),  # negative alterations in cognition and mood
    "E": (15, 16, 17, 18, 19, 20),  # alterations in arousal and reactivity
}
# An item answered at or above this ("Moderately") counts as an endorsed symptom.
PCL5_ENDORSED_MIN = 2
# Endorsed symptoms needed per cluster for a provisional DSM-5 diagnosis.
PCL5_DSM_RULE = {"B": 1, "C": 1, "D": 2, "E": 2}
# Provisional PTSD by total: at or above this (Bovin 2016 range 31-33; verify per population).
PCL5_PROVISIONAL_CUTOFF = 33
# A change of this many points is clinically meaningful (NCPTSD; verify).
PCL5_MEANINGFUL_CHANGE = 10

_CLUSTER_OF = {number: cluster for cluster, numbers in PCL5_CLUSTERS.items() for number in numbers}


def item_id(number: int) -> str:
    return f"pcl5_{number}"


class Pcl5(Instrument):
    """The PCL-5 with cluster sums and both provisional-PTSD rules in `Score.detail`:
    "cluster_b" ... "cluster_e" (sums, points), "provisional_ptsd_total" (total at or above
    the lower edge of the top band) and "provisional_ptsd_dsm" (the DSM-5 cluster rule)."""

    def _detail(self, answers: dict[str, int], total: int) -> dict:
        detail: dict = {}
        dsm = True
        for cluster, numbers in PCL5_CLUSTERS.items():
            values = [answers[item_id(n)] for n in numbers]
            detail[f"cluster_{cluster.lower()}"] = sum(values)
            endorsed = sum(1 for v in values if v >= PCL5_ENDORSED_MIN)
            dsm = dsm and endorsed >= PCL5_DSM_RULE[cluster]
        detail.update(self._total_detail(total))
        detail["provisional_ptsd_dsm"] = dsm
        return detail

    def _total_detail(self, total: int) -> dict:
        # The cut-off is the top band's lower edge, so a practice that re-bands (31 or 32)
        # changes one place.
        return {"provisional_ptsd_total": total >= self.bands[-1].low}


PCL5 = Pcl5(
    code="pcl5",
    name="PTSD Checklist for DSM-5",
    short_name="PCL-5",
    respondent="self",
    entry=Entry.ITEMS,
    items=tuple(
        Item(
            id=item_id(number),
            text=None,
            label=f"Item {number} (cluster {_CLUSTER_OF[number]})",
            options=OPTIONS,
            loinc=None,  # item codes exist under panel 101697-1 but are not confirmed here
        )
        for number in range(1, 21)
    ),
    min_total=0,
    max_total=80,
    bands=(
        Band(0, PCL5_PROVISIONAL_CUTOFF - 1, "below threshold", 0),
        Band(PCL5_PROVISIONAL_CUTOFF, 80, "probable PTSD", 1),
    ),
    loinc_panel="101697-1",  # verify against the current LOINC release
    loinc_total="101698-9",  # verify against the current LOINC release
    licence=(
        "Public domain per the VA National Center for PTSD (verify). Item wording is not "
        "shipped until confirmed; items show neutral labels only."
    ),
    response_drop=None,
    remission_max=None,
)
