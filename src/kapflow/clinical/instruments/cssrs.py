"""C-SSRS Screener, recent (since last visit / past month) version: six yes/no questions and,
when question 6 is yes, whether that behaviour was within the past 3 months.

Sources: Posner K, et al. The Columbia-Suicide Severity Rating Scale. Am J Psychiatry
2011;168(12):1266-77; Columbia Lighthouse Project screener triage guidance (DOMAIN.md
section 1): Q1 or Q2 only = low risk; Q3 = moderate; Q4 or Q5 = high; Q6 yes within 3 months
= high, lifetime only = moderate. High risk needs a same-day clinician evaluation and no
dosing. LOINC (HL7 US Behavioral Health Profiles IG, verify): panel 93373-9, Q1 93246-7 ...
Q6 93267-3, past 3 months 93269-9, risk level 93374-7.

The "total" of this instrument is the risk rank 0-3 (none, low, moderate, high), stored under
LOINC 93374-7; it is not a sum of answers.

Licence: free for clinical use, but embedding in an EHR or commercial software needs a licence
from the Columbia Lighthouse Project (verify). No question wording ships here: the clinician
asks from the licensed card; the form shows "Question 1" ... "Question 6".

Skip logic (Q3-Q5 are asked only after Q2 is yes) belongs to the card, not here: every
question is recorded, and an answered "yes" always counts.
"""

from kapflow.clinical.instruments.base import (
    AnswerError,
    Band,
    Entry,
    Instrument,
    Item,
    Option,
    SafetyFlag,
)

YES_NO = (Option(0, "No"), Option(1, "Yes"))

Q6_RECENT = "q6_recent"

NONE, LOW, MODERATE, HIGH = 0, 1, 2, 3
RISK_LABELS = {NONE: "none", LOW: "low", MODERATE: "moderate", HIGH: "high"}

_LOINC = ("93246-7", "93247-5", "93248-3", "93249-1", "93250-9", "93267-3")


def _yes(answers: dict, item: str) -> bool:
    # Lenient on purpose: safety() reads incomplete or unchecked answers; validate() is strict.
    return answers.get(item) == 1


def risk_rank(answers: dict[str, int]) -> int:
    """The Columbia screener risk level as a rank 0-3. Q6 yes with the 3-month question
    unanswered counts as recent: unknown recency is treated as the worse case."""
    behaviour = _yes(answers, "q6")
    recent = behaviour and answers.get(Q6_RECENT) != 0
    if _yes(answers, "q4") or _yes(answers, "q5") or recent:
        return HIGH
    if _yes(answers, "q3") or behaviour:
        return MODERATE
    if _yes(answers, "q1") or _yes(answers, "q2"):
        return LOW
    return NONE


_QUESTIONS = tuple(
    Item(id=f"q{number}", text=None, label=f"Question {number}", options=YES_NO, loinc=loinc)
    for number, loinc in enumerate(_LOINC, start=1)
)
_RECENT = Item(
    id=Q6_RECENT,
    text=None,
    label="Question 6: within the past 3 months?",
    options=YES_NO,
    required=False,  # required only when Q6 is yes; CssrsScreener.validate checks
    loinc="93269-9",
)


class CssrsScreener(Instrument):
    """The C-SSRS screener: the conditional 3-month question, risk rank as the total, and the
    safety flags that stop dosing."""

    def validate(self, answers: dict[str, int]) -> list[AnswerError]:
        """As Instrument.validate, plus: "q6_recent" is required when Q6 is yes, and must be
        absent or 0 ("No") when Q6 is no (behaviour never happened, so not recently)."""
        errors = super().validate(answers)
        if any(error.item_id in ("q6", Q6_RECENT) for error in errors):
            return errors  # Q6 or the 3-month answer is missing or invalid: already reported
        q6 = answers["q6"]
        if q6 == 1 and Q6_RECENT not in answers:
            errors.append(self._missing(_RECENT))
        elif q6 == 0 and answers.get(Q6_RECENT) == 1:
            errors.append(
                AnswerError(
                    Q6_RECENT,
                    "answer.out_of_range",
                    f"“{_RECENT.label}” must be “No” or left out when Question 6 is “No”.",
                )
            )
        return errors

    def safety(self, answers: dict[str, int]) -> list[SafetyFlag]:
        """High risk (Q4, Q5, or Q6 within 3 months): same-day clinician evaluation, no
        dosing. Moderate risk (Q3, or Q6 lifetime only): clinician review before dosing
        (Columbia screener triage guidance; DOMAIN.md sections 1 and 2)."""
        rank = risk_rank(answers)
        if rank == HIGH:
            return [
                SafetyFlag(
                    code="cssrs.high_risk",
                    message=(
                        "C-SSRS screen shows high suicide risk. A clinician must evaluate the "
                        "client today; do not dose."
                    ),
                    level="high",
                )
            ]
        if rank == MODERATE:
            return [
                SafetyFlag(
                    code="cssrs.moderate_risk",
                    message=(
                        "C-SSRS screen shows moderate suicide risk. A clinician must review "
                        "the screen and record a decision before dosing."
                    ),
                    level="moderate",
                )
            ]
        return []

    def _total(self, answers: dict[str, int]) -> int:
        return risk_rank(answers)

    def _total_detail(self, total: int) -> dict:
        return {"risk": self.band_for(total).label}


CSSRS = CssrsScreener(
    code="cssrs",
    name="Columbia–Suicide Severity Rating Scale, screener (recent)",
    short_name="C-SSRS",
    # Asked by a trained clinician from the licensed card, so a positive answer is acted on
    # at once.
    respondent="clinician",
    entry=Entry.ITEMS,
    items=(*_QUESTIONS, _RECENT),
    min_total=NONE,
    max_total=HIGH,
    bands=tuple(Band(rank, rank, label, rank) for rank, label in RISK_LABELS.items()),
    loinc_panel="93373-9",  # verify
    loinc_total="93374-7",  # risk level; verify
    licence=(
        "Free for clinical use; embedding in an EHR or commercial software needs a licence "
        "from the Columbia Lighthouse Project (verify). No question wording is shipped."
    ),
    response_drop=None,
    remission_max=None,
)
