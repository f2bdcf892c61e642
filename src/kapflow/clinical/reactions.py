"""Reaction reports after a ketamine dosing session, and "need help now": how urgent, and
what the person reporting should do at once.

Pure rules over a dataclass: no Django, no database. The caller stores the severity and the
reason codes with the report and shows the advice; the care team is told whatever the result.
The checklist's wording is plain on purpose: the reader may be the client soon after a dose
or a companion who is not a clinician.

Sources: ketamine and esketamine labelling (Spravato PI section 5: sedation, dissociation,
respiratory depression, increases in blood pressure; section 5.6: suicidal thoughts), and the
issue 7 triage the practice agreed: symptoms of a medical emergency mean 911 now; thoughts of
self-harm mean 988 and, in danger, 911; anything else goes to the care team, and "if it gets
worse, call 911". Nothing here promises a reply time.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


# Higher is more severe; the report takes its most severe finding.
RANK = {Severity.ROUTINE: 0, Severity.URGENT: 1, Severity.EMERGENCY: 2}


@dataclass(frozen=True)
class Symptom:
    """A checklist item. `call_911`: tell the reporter to call 911 now; `call_988`: tell them
    to call or text 988 now, and 911 if anyone is in immediate danger."""

    code: str
    label: str
    severity: Severity
    call_911: bool = False
    call_988: bool = False


# The checklist, in the order it is shown: the emergencies first, so they are read first.
SYMPTOMS: tuple[Symptom, ...] = (
    Symptom("chest_pain", "Chest pain or tightness", Severity.EMERGENCY, call_911=True),
    Symptom(
        "breathing",
        "Trouble breathing, or breathing that is very slow or shallow",
        Severity.EMERGENCY,
        call_911=True,
    ),
    Symptom(
        "unresponsive",
        "Fainted, or very hard to wake or not responding",
        Severity.EMERGENCY,
        call_911=True,
    ),
    Symptom("seizure", "A seizure (fit)", Severity.EMERGENCY, call_911=True),
    Symptom(
        "self_harm",
        "Thoughts of harming oneself or of suicide",
        Severity.EMERGENCY,
        call_988=True,
    ),
    Symptom("confusion", "Confusion that is severe or getting worse", Severity.URGENT),
    Symptom("vomiting", "Being sick (vomiting) that will not stop", Severity.URGENT),
    Symptom("agitation", "Very agitated or frightened, and cannot settle", Severity.URGENT),
    Symptom("nausea", "Feeling sick (nausea)", Severity.ROUTINE),
    Symptom("dizziness", "Dizziness or unsteadiness", Severity.ROUTINE),
    Symptom("headache", "Headache", Severity.ROUTINE),
    Symptom("anxiety", "Anxiety or feeling on edge", Severity.ROUTINE),
    Symptom("low_mood", "Low mood", Severity.ROUTINE),
)
SYMPTOM_BY_CODE = {s.code: s for s in SYMPTOMS}

# Blood pressure at or above this (either number) after a dose is urgent: the severe-range
# threshold the practice uses for ketamine (mmHg). Emergency signs with it (chest pain,
# trouble breathing) are emergencies through their own checklist items.
BP_URGENT_SYSTOLIC = 180
BP_URGENT_DIASTOLIC = 110
# Readings outside these ranges are typing mistakes, not measurements (mmHg).
BP_SYSTOLIC_RANGE = (50, 300)
BP_DIASTOLIC_RANGE = (20, 200)


@dataclass(frozen=True)
class ReactionAnswers:
    """What the reporter ticked, and a blood pressure reading if they took one (mmHg)."""

    symptoms: frozenset[str] = frozenset()
    bp_systolic: int | None = None
    bp_diastolic: int | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity


@dataclass(frozen=True)
class Triage:
    severity: Severity
    findings: tuple[Finding, ...] = field(default=())
    call_911: bool = False
    call_988: bool = False

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]


@dataclass(frozen=True)
class Problem:
    """An answer that cannot be used, named by its field; the message never repeats it."""

    field: str
    message: str


def check_answers(answers: ReactionAnswers) -> list[Problem]:
    """Every problem with the answers: unknown checklist items, a half or implausible reading."""
    problems = []
    unknown = answers.symptoms - SYMPTOM_BY_CODE.keys()
    if unknown:
        problems.append(Problem("symptoms", "Choose symptoms from the list."))
    systolic, diastolic = answers.bp_systolic, answers.bp_diastolic
    if (systolic is None) != (diastolic is None):
        missing = "bp_diastolic" if diastolic is None else "bp_systolic"
        problems.append(Problem(missing, "Enter both blood pressure numbers, or neither."))
    if systolic is not None and not BP_SYSTOLIC_RANGE[0] <= systolic <= BP_SYSTOLIC_RANGE[1]:
        problems.append(
            Problem("bp_systolic", "The top number is usually between 50 and 300; check it.")
        )
    if diastolic is not None and not BP_DIASTOLIC_RANGE[0] <= diastolic <= BP_DIASTOLIC_RANGE[1]:
        problems.append(
            Problem("bp_diastolic", "The bottom number is usually between 20 and 200; check it.")
        )
    if systolic is not None and diastolic is not None and not problems and diastolic >= systolic:
        problems.append(
            Problem("bp_diastolic", "The bottom number must be lower than the top number.")
        )
    return problems


def reaction_triage(answers: ReactionAnswers) -> Triage:
    """The severity of a reaction report: its most severe finding, or routine.

    Emergency: chest pain, trouble breathing, fainting or unresponsive, a seizure (call 911);
    thoughts of self-harm (call or text 988; 911 if in danger). Urgent: severe or worsening
    confusion, vomiting that will not stop, agitation, or blood pressure at or above 180/110.
    Everything else (nausea, dizziness, headache, anxiety, low mood, free text) is routine.
    Call check_answers first; unknown codes are ignored here.
    """
    findings = [Finding(s.code, s.severity) for s in SYMPTOMS if s.code in answers.symptoms]
    if (answers.bp_systolic or 0) >= BP_URGENT_SYSTOLIC or (
        answers.bp_diastolic or 0
    ) >= BP_URGENT_DIASTOLIC:
        findings.append(Finding("bp_very_high", Severity.URGENT))
    severity = max((f.severity for f in findings), key=RANK.__getitem__, default=Severity.ROUTINE)
    chosen = [SYMPTOM_BY_CODE[f.code] for f in findings if f.code in SYMPTOM_BY_CODE]
    return Triage(
        severity=severity,
        findings=tuple(findings),
        call_911=any(s.call_911 for s in chosen),
        call_988=any(s.call_988 for s in chosen),
    )


def help_now_triage() -> Triage:
    """ "Need help now" pressed by a companion during an at-home session: always an
    emergency for the care team. The companion is told to call 911 if the person is not
    responding or not breathing normally; the button cannot know, so call_911 stays off."""
    return Triage(severity=Severity.EMERGENCY, findings=(Finding("help_now", Severity.EMERGENCY),))
