"""GAD-7: Generalized Anxiety Disorder seven-item scale, self-report, past two weeks.

Source: Spitzer RL, Kroenke K, Williams JB, Löwe B. A brief measure for assessing generalized
anxiety disorder: the GAD-7. Arch Intern Med 2006;166(10):1092-7 (items, 0-21 total, bands,
>= 10 as the positive-screen cut-off). Response (>= 50% drop) follows the PHQ-9 convention;
remission (< 5, the top of "minimal") is a practice convention, not a published GAD-7 rule.
LOINC: panel 69737-5, total 70274-6, items as in the HL7 PHR format IG GAD-7 example.

Licence: as the PHQ-9, © Pfizer Inc., no permission required, so the wording ships here.
The form's optional difficulty question is not modelled.
"""

from kapflow.clinical.instruments.base import Band, Entry, Instrument, Item
from kapflow.clinical.instruments.phq9 import FREQUENCY_OPTIONS

GAD7_STEM = "Over the last 2 weeks, how often have you been bothered by the following problems?"

# Spitzer 2006: a total of 10 or more is a positive screen for generalised anxiety disorder.
GAD7_POSITIVE_SCREEN = 10

_ITEMS = (
    ("Feeling nervous, anxious or on edge", "69725-0"),
    ("Not being able to stop or control worrying", "68509-9"),
    ("Worrying too much about different things", "69733-4"),
    ("Trouble relaxing", "69734-2"),
    ("Being so restless that it is hard to sit still", "69735-9"),
    ("Becoming easily annoyed or irritable", "69689-8"),
    ("Feeling afraid as if something awful might happen", "69736-7"),
)

GAD7 = Instrument(
    code="gad7",
    name="Generalized Anxiety Disorder 7-item scale",
    short_name="GAD-7",
    respondent="self",
    entry=Entry.ITEMS,
    items=tuple(
        Item(
            id=f"gad7_{number}",
            text=text,
            label=f"Item {number}",
            options=FREQUENCY_OPTIONS,
            loinc=loinc,
        )
        for number, (text, loinc) in enumerate(_ITEMS, start=1)
    ),
    min_total=0,
    max_total=21,
    bands=(
        Band(0, 4, "minimal", 0),
        Band(5, 9, "mild", 1),
        Band(10, 14, "moderate", 2),
        Band(15, 21, "severe", 3),
    ),
    loinc_panel="69737-5",
    loinc_total="70274-6",
    licence=(
        "Free to use: © Pfizer Inc., no permission required to reproduce, translate, display "
        "or distribute. Item wording may be shipped."
    ),
    response_drop=0.5,
    # Practice convention (mirrors PHQ-9 < 5); GAD-7 has no published remission cut-off.
    remission_max=4,
)
