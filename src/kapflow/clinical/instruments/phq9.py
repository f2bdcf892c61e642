"""PHQ-9: Patient Health Questionnaire, nine items, self-report, past two weeks.

Sources: Kroenke K, Spitzer RL, Williams JB. The PHQ-9: validity of a brief depression
severity measure. J Gen Intern Med 2001;16(9):606-13 (items, 0-27 total, severity bands).
Response (>= 50% drop from baseline) and remission (< 5): NCQA HEDIS DRR-E. Item and answer
LOINC codes: LOINC panel 44249-1 as used in the US Core PHQ-9 example (DOMAIN.md section 1).

Licence: "Copyright Pfizer Inc. No permission required to reproduce, translate, display or
distribute", so the standard published English wording ships here.
"""

from kapflow.clinical.instruments.base import (
    Band,
    Entry,
    Instrument,
    Item,
    Option,
    SafetyFlag,
)

# The PHQ frequency scale, shared with the GAD-7.
FREQUENCY_OPTIONS = (
    Option(0, "Not at all"),
    Option(1, "Several days"),
    Option(2, "More than half the days"),
    Option(3, "Nearly every day"),
)

# LOINC answer list LL358-3 (US Core PHQ-9 example): stored value -> answer code.
PHQ_ANSWER_LOINC = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}

PHQ9_STEM = (
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
)

_ITEMS = (
    ("Little interest or pleasure in doing things", "44250-9"),
    ("Feeling down, depressed, or hopeless", "44255-8"),
    ("Trouble falling or staying asleep, or sleeping too much", "44259-0"),
    ("Feeling tired or having little energy", "44254-1"),
    ("Poor appetite or overeating", "44251-7"),
    (
        "Feeling bad about yourself — or that you are a failure or have let yourself or "
        "your family down",
        "44258-2",
    ),
    (
        "Trouble concentrating on things, such as reading the newspaper or watching television",
        "44252-5",
    ),
    (
        "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
        "being so fidgety or restless that you have been moving around a lot more than usual",
        "44253-3",
    ),
    (
        "Thoughts that you would be better off dead or of hurting yourself in some way",
        "44260-8",
    ),
)

ITEM9 = "phq9_9"

DIFFICULTY = Item(
    id="phq9_difficulty",
    text=(
        "If you checked off any problems, how difficult have these problems made it for you to "
        "do your work, take care of things at home, or get along with other people?"
    ),
    label="Difficulty",
    options=(
        Option(0, "Not difficult at all"),
        Option(1, "Somewhat difficult"),
        Option(2, "Very difficult"),
        Option(3, "Extremely difficult"),
    ),
    # Kroenke 2001: asked for clinical context, not part of the total.
    required=False,
    scored=False,
    loinc="69722-7",
)


_SCORED_ITEMS = tuple(
    Item(
        id=f"phq9_{number}",
        text=text,
        label=f"Item {number}",
        options=FREQUENCY_OPTIONS,
        loinc=loinc,
    )
    for number, (text, loinc) in enumerate(_ITEMS, start=1)
)


class Phq9(Instrument):
    """The PHQ-9 with its item 9 safety rule."""

    def safety(self, answers: dict[str, int]) -> list[SafetyFlag]:
        """Item 9 (thoughts of death or self-harm) above "Not at all" needs a same-day
        clinician review and a C-SSRS screen (DOMAIN.md section 1; Kroenke 2001). "Several
        days" is a moderate flag; "More than half the days" or "Nearly every day" is high."""
        value = answers.get(ITEM9)
        if not isinstance(value, int) or value < 1:
            return []
        return [
            SafetyFlag(
                code="phq9.item9_positive",
                message=(
                    "PHQ-9 item 9 (thoughts of death or of self-harm) was answered above "
                    "“Not at all”. A clinician should review the client today and complete "
                    "a C-SSRS suicide-risk screen."
                ),
                level="high" if value >= 2 else "moderate",
            )
        ]


PHQ9 = Phq9(
    code="phq9",
    name="Patient Health Questionnaire-9",
    short_name="PHQ-9",
    respondent="self",
    entry=Entry.ITEMS,
    items=(*_SCORED_ITEMS, DIFFICULTY),
    min_total=0,
    max_total=27,
    bands=(
        Band(0, 4, "minimal", 0),
        Band(5, 9, "mild", 1),
        Band(10, 14, "moderate", 2),
        Band(15, 19, "moderately severe", 3),
        Band(20, 27, "severe", 4),
    ),
    loinc_panel="44249-1",
    loinc_total="44261-6",
    licence=(
        "Free to use: © Pfizer Inc., no permission required to reproduce, translate, display "
        "or distribute. Item wording may be shipped."
    ),
    response_drop=0.5,
    remission_max=4,
)
