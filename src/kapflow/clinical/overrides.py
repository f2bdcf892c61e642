"""Who may override which dosing-gate reason, and what a valid justification holds. Pure.

Every reason code the dosing gate (kapflow.clinical.course.dosing_reasons) can return has one
owner (decision 0029; ARCHITECTURE.md "Each gate reason has an owner"):

- nobody: the fact itself must change (consent signed, a dose on a prescription, the client's
  own attestation, the companion in the room, a new screen, a structured risk assessment);
- the prescriber: medical facts (blood pressure, the clearance). A recheck reading under the
  practice's limit clears `vitals.bp_high` by itself: the start is simply made again with it;
- the treating clinician: the therapy side's facts (preparation, a companion's advance
  confirmation, the ride home).

An override is a signed, structured decision: a category from the rule's list and a written
rationale of at least `RATIONALE_MIN` characters; free text alone is never enough. A practice
may make any rule stricter (a treating-clinician rule prescriber-only, or nobody), never
looser (`practice_table`). Unknown codes (a rule added later) belong to nobody until this
table names an owner: the gate fails closed.

`screen.suicide_risk_positive` is never overridden: it clears only through a recorded risk
assessment (`risk_assessment_problems`) whose decision is "proceed", and a "high" risk level
can never proceed (DOMAIN.md sections 1 and 2: C-SSRS Q4/Q5/recent Q6 mean same-day clinician
evaluation and no dosing). A task raised at a high level never proceeds on the clinical date
it was raised, and is assessed at a lower level only with a written rationale for it
(`task_assessment_problems`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from kapflow.clinical.reasons import Reason


class Authority(StrEnum):
    """Who may override a reason, loosest first: the order is the strictness."""

    TREATING_CLINICIAN = "treating_clinician"
    PRESCRIBER = "prescriber"
    NOBODY = "nobody"


STRICTNESS = {Authority.TREATING_CLINICIAN: 0, Authority.PRESCRIBER: 1, Authority.NOBODY: 2}

AUTHORITY_LABELS = {
    Authority.TREATING_CLINICIAN: "the treating clinician (a licensed therapist on the course)",
    Authority.PRESCRIBER: "the course's prescriber",
    Authority.NOBODY: "nobody",
}


class Category(StrEnum):
    """Why an override is justified: the structured part every override must carry."""

    VERIFIED_OTHER_MEANS = "verified_other_means"
    ALTERNATIVE_ARRANGED = "alternative_arranged"
    EQUIVALENT_COMPLETED = "equivalent_completed"
    PRESCRIBER_REVIEWED = "prescriber_reviewed"
    RENEWAL_IN_PROGRESS = "renewal_in_progress"


CATEGORY_LABELS = {
    Category.VERIFIED_OTHER_MEANS: "Confirmed another way (say how, by whom, when)",
    Category.ALTERNATIVE_ARRANGED: "A safe alternative is arranged (say what)",
    Category.EQUIVALENT_COMPLETED: "The equivalent was completed in another session (say which)",
    Category.PRESCRIBER_REVIEWED: "Reviewed by the prescriber; the risk is accepted (say why)",
    Category.RENEWAL_IN_PROGRESS: "Re-evaluation booked; health unchanged since the clearance",
}

RATIONALE_MIN = 20  # characters: enough to say what was checked, not "ok" or "testing"
STANDING_DECISION_HOURS = 4  # a decision signed ahead of the start covers starts this soon


@dataclass(frozen=True)
class OverrideRule:
    code: str
    authority: Authority
    categories: tuple[Category, ...] = ()
    clears_by: str = ""  # how the reason clears without an override, in plain words


def _rule(code, authority, clears_by, *categories) -> OverrideRule:
    return OverrideRule(code, authority, tuple(categories), clears_by)


A, C = Authority, Category

# Every reason code of dosing_reasons and _dose_day_reasons (kapflow.clinical.course).
DEFAULT_RULES: dict[str, OverrideRule] = {
    r.code: r
    for r in [
        _rule("stage.not_active", A.NOBODY, "move the course to active or maintenance"),
        _rule("eligibility.not_eligible", A.NOBODY, "only a new eligibility decision"),
        _rule("eligibility.missing", A.NOBODY, "the prescriber's signed eligibility decision"),
        _rule("clearance.expired", A.PRESCRIBER, "the prescriber renews the clearance",
              C.RENEWAL_IN_PROGRESS, C.PRESCRIBER_REVIEWED),
        _rule("prescription.missing", A.NOBODY, "the prescriber issues a prescription"),
        _rule("prescription.no_doses_left", A.NOBODY, "a fill under an active prescription"),
        _rule("consent.withdrawn", A.NOBODY, "the client signs the consent again"),
        _rule("consent.outdated", A.NOBODY, "the client signs the current consent"),
        _rule("consent.missing", A.NOBODY, "the client signs the consent"),
        _rule("consent.telehealth_missing", A.NOBODY, "the client signs the telehealth consent"),
        _rule("preparation.none", A.TREATING_CLINICIAN, "record a preparation session",
              C.EQUIVALENT_COMPLETED),
        # A missing screen is never waived: an old positive screen would otherwise turn into
        # "missing" after screen_valid_days and be waived by one line. Screening takes minutes.
        _rule("screen.missing", A.NOBODY,
              "record a suicide-risk screen (C-SSRS screener or PHQ-9) before the dose"),
        _rule("screen.suicide_risk_positive", A.NOBODY,
              "a licensed clinician's structured risk assessment on the urgent task, with the "
              "decision to proceed (never at a high risk level)"),
        _rule("companion.unconfirmed", A.TREATING_CLINICIAN,
              "the companion confirms in the portal", C.VERIFIED_OTHER_MEANS),
        _rule("licence.state_mismatch", A.NOBODY, "a current licence in the client's state"),
        _rule("licence.actor_state_mismatch", A.NOBODY,
              "a clinician licensed in the client's state runs the session"),
        _rule("referral.no_prescriber", A.NOBODY, "assign the prescriber"),
        _rule("integration.overdue", A.NOBODY, "record an integration session"),
        _rule("followup.overdue", A.NOBODY, "the prescriber's follow-up"),
        # Dosing with no reading cannot be looser than dosing with a high one.
        _rule("vitals.bp_missing", A.PRESCRIBER, "take the pre-dose blood pressure",
              C.PRESCRIBER_REVIEWED),
        _rule("vitals.bp_high", A.PRESCRIBER,
              "a recheck reading under the practice's limit (start again with it)",
              C.PRESCRIBER_REVIEWED),
        # One dosing at a time, a minimum interval (decision 0030): facts, never waived.
        _rule("dosing.session_open", A.NOBODY, "end or abandon the open session first"),
        _rule("dosing.too_soon", A.NOBODY, "wait until the practice's minimum interval"),
        _rule("alcohol.not_attested", A.NOBODY, "the client's own attestation"),
        _rule("companion.absent", A.NOBODY, "the companion present with the client"),
        _rule("driver.unconfirmed", A.TREATING_CLINICIAN, "confirm who drives the client home",
              C.VERIFIED_OTHER_MEANS, C.ALTERNATIVE_ARRANGED),
    ]
}  # fmt: skip

# Codes a practice may tighten: those someone may override by default.
TIGHTENABLE = tuple(code for code, r in DEFAULT_RULES.items() if r.authority is not A.NOBODY)

# What a person reads for each reason someone may override (forms, reports, messages).
REASON_LABELS = {
    "clearance.expired": "Medical clearance expired",
    "preparation.none": "No preparation session completed",
    "companion.unconfirmed": "Companion has not confirmed",
    "driver.unconfirmed": "No one confirmed to drive the client home",
    "vitals.bp_missing": "No pre-dose blood pressure",
    "vitals.bp_high": "Pre-dose blood pressure at or above the limit",
}


def reason_label(code: str) -> str:
    return REASON_LABELS.get(code, code)


class LoosenedRule(ValueError):
    """A practice setting that would let more people override than the default allows."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{code}: {msg}" for code, msg in problems.items()))


def rule_for(code: str, table: Mapping[str, OverrideRule] | None = None) -> OverrideRule:
    """The rule for a code; an unknown code belongs to nobody (fail closed)."""
    found = (table if table is not None else DEFAULT_RULES).get(code)
    return found or OverrideRule(code, A.NOBODY, (), "fix the fact itself")


def practice_problems(stricter: Mapping[str, str]) -> dict[str, str]:
    """Why a practice's settings (code -> authority) cannot be applied: unknown codes,
    unknown authorities, or anything looser than the default. Empty means acceptable."""
    problems: dict[str, str] = {}
    for code, value in stricter.items():
        if code not in DEFAULT_RULES:
            problems[code] = "Not a dosing-gate reason."
            continue
        try:
            wanted = Authority(value)
        except ValueError:
            problems[code] = "Choose the treating clinician, the prescriber or nobody."
            continue
        default = DEFAULT_RULES[code].authority
        if STRICTNESS[wanted] < STRICTNESS[default]:
            problems[code] = (
                f"A practice may only tighten this rule: by default {AUTHORITY_LABELS[default]} "
                f"may override it, so it cannot be {AUTHORITY_LABELS[wanted]}."
            )
    return problems


def practice_table(stricter: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> dict:
    """The default table with a practice's stricter settings applied. Raises LoosenedRule if
    any setting would loosen a rule (or names an unknown code)."""
    stricter = dict(stricter)
    problems = practice_problems(stricter)
    if problems:
        raise LoosenedRule(problems)
    table = dict(DEFAULT_RULES)
    for code, value in stricter.items():
        table[code] = replace(table[code], authority=Authority(value))
    return table


def stamp(reasons: list[Reason], table: Mapping[str, OverrideRule] | None = None) -> list[Reason]:
    """The reasons with `overridable` derived from the table: True when someone may
    override the reason at all. Who may is `rule_for(code).authority`."""
    return [
        replace(r, overridable=rule_for(r.code, table).authority is not A.NOBODY) for r in reasons
    ]


# ---- who signs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """The person asking to override, as the course sees them."""

    treating_clinician: bool = False  # a therapist on the course's therapist side
    prescriber: bool = False  # the course's own prescriber
    licensed: bool = False  # holds a current licence in the client's state today


@dataclass(frozen=True)
class Justification:
    category: str = ""
    rationale: str = ""


def justification_problems(rule: OverrideRule, justification: Justification) -> list[str]:
    """What a justification for this rule lacks, in plain words (empty: valid)."""
    problems = []
    if justification.category not in rule.categories:
        allowed = ", ".join(c.value for c in rule.categories)
        problems.append(f"choose a justification category ({allowed})")
    if len((justification.rationale or "").strip()) < RATIONALE_MIN:
        problems.append(
            f"write a rationale of at least {RATIONALE_MIN} characters saying what was checked"
        )
    return problems


def may_override(rule: OverrideRule, signer: Signer) -> bool:
    """Whether this signer owns the rule (the justification is checked separately)."""
    if rule.authority is A.PRESCRIBER:
        return signer.prescriber and signer.licensed
    if rule.authority is A.TREATING_CLINICIAN:
        return signer.treating_clinician and signer.licensed
    return False


def why_not(rule: OverrideRule, signer: Signer, justification: Justification | None) -> str:
    """Why this signer cannot override this reason with this justification; "" if they can."""
    if rule.authority is A.NOBODY:
        return f"Never overridable; it clears only by: {rule.clears_by}."
    owner = AUTHORITY_LABELS[rule.authority]
    if not may_override(rule, signer):
        owns = signer.prescriber if rule.authority is A.PRESCRIBER else signer.treating_clinician
        if owns and not signer.licensed:
            return f"Only {owner} may override this, with a current licence in the client's state."
        return f"Only {owner} may override this (or: {rule.clears_by})."
    if justification is None:
        return (
            "You may override this with a signed justification: "
            + "; ".join(justification_problems(rule, Justification()))
            + "."
        )
    problems = justification_problems(rule, justification)
    if problems:
        return "The justification is incomplete: " + "; ".join(problems) + "."
    return ""


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    authority: Authority
    why_not: str


@dataclass(frozen=True)
class OverrideOutcome:
    """The result of asking to pass the gate: reasons covered by standing decisions, reasons
    this signer overrides now, and refusals (each with why). Passes when refusals is empty."""

    covered: list[Reason] = field(default_factory=list)
    overridden: list[Reason] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class StandingDecision:
    """An override signed ahead of the start (a prescriber's, usually), as the gate sees it:
    the code, when it was signed, and the blood pressure the signer saw."""

    code: str
    signed_at: datetime
    bp_systolic: int | None = None
    bp_diastolic: int | None = None


def standing_covers(
    decision: StandingDecision,
    *,
    code: str,
    now: datetime,
    bp_systolic: int | None = None,
    bp_diastolic: int | None = None,
) -> bool:
    """A standing decision covers a reason at a start within STANDING_DECISION_HOURS, and for
    blood pressure only a reading no higher than the one the signer saw."""
    if decision.code != code or not (
        decision.signed_at <= now <= decision.signed_at + timedelta(hours=STANDING_DECISION_HOURS)
    ):
        return False
    if code == "vitals.bp_high":
        if None in (decision.bp_systolic, decision.bp_diastolic, bp_systolic, bp_diastolic):
            return False
        return bp_systolic <= decision.bp_systolic and bp_diastolic <= decision.bp_diastolic
    return True


def override_outcome(
    reasons: list[Reason],
    *,
    signer: Signer,
    justifications: Mapping[str, Justification],
    table: Mapping[str, OverrideRule] | None = None,
    covered_codes: Iterable[str] = (),
) -> OverrideOutcome:
    """Apply the table to every reason: covered by a standing decision, overridden now by this
    signer with a valid justification, or refused with why. Refusals list every reason not
    passed, so the caller answers with all of them at once."""
    covered_codes = set(covered_codes)
    covered, overridden, refusals = [], [], []
    for reason in reasons:
        rule = rule_for(reason.code, table)
        if rule.authority is not A.NOBODY and reason.code in covered_codes:
            covered.append(reason)
            continue
        why = why_not(rule, signer, justifications.get(reason.code))
        if why:
            refusals.append(Refusal(reason, rule.authority, why))
        else:
            overridden.append(reason)
    if refusals:
        return OverrideOutcome(covered, [], refusals)
    return OverrideOutcome(covered, overridden, [])


# ---- the structured risk assessment ---------------------------------------------------------


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class RiskDecision(StrEnum):
    PROCEED = "proceed"
    HOLD = "hold"
    HIGHER_CARE = "higher_care"


@dataclass(frozen=True)
class RiskAssessment:
    """A licensed clinician's assessment after a positive suicide-risk screen (decision 0016;
    Columbia triage: a positive C-SSRS or PHQ-9 item 9 needs a clinician's evaluation)."""

    risk_level: str = ""
    protective_factors_reviewed: bool = False
    safety_plan_reviewed: bool = False  # reviewed with the client
    means_restriction_discussed: bool = False
    decision: str = ""
    rationale: str = ""


def risk_assessment_problems(assessment: RiskAssessment, *, licensed: bool) -> dict[str, str]:
    """Field -> what is wrong; empty means the assessment can be signed. Every assessment
    needs a risk level, a decision and a rationale; "proceed" also needs protective factors
    and the safety plan reviewed and means restriction discussed, and is never allowed at a
    high risk level (hold or refer to a higher level of care)."""
    problems: dict[str, str] = {}
    if not licensed:
        problems["licence"] = (
            "A risk assessment is signed by a clinician with a current licence in the "
            "client's state."
        )
    if assessment.risk_level not in RiskLevel.__members__.values():
        problems["risk_level"] = "Choose the assessed risk level: low, moderate or high."
    if assessment.decision not in RiskDecision.__members__.values():
        problems["decision"] = "Choose a decision."
    if len((assessment.rationale or "").strip()) < RATIONALE_MIN:
        problems["rationale"] = (
            f"Write the assessment's rationale (at least {RATIONALE_MIN} characters)."
        )
    if assessment.decision == RiskDecision.PROCEED:
        if assessment.risk_level == RiskLevel.HIGH:
            problems["decision"] = (
                "A high risk level can never lead to dosing: hold, or refer to a higher "
                "level of care."
            )
        if not assessment.protective_factors_reviewed:
            problems["protective_factors_reviewed"] = "Review protective factors to proceed."
        if not assessment.safety_plan_reviewed:
            problems["safety_plan_reviewed"] = "Review the safety plan with the client to proceed."
        if not assessment.means_restriction_discussed:
            problems["means_restriction_discussed"] = "Discuss means restriction to proceed."
    return problems


RISK_RANK = {RiskLevel.LOW: 0, RiskLevel.MODERATE: 1, RiskLevel.HIGH: 2}


def task_assessment_problems(
    assessment: RiskAssessment,
    *,
    task_level: str,
    same_clinical_day: bool,
    downgrade_rationale: str = "",
) -> dict[str, str]:
    """What the screen's own level adds to `risk_assessment_problems` (decision 0029).

    - A task raised at a "high" level (C-SSRS Q4/Q5/recent Q6: same-day evaluation and no
      dosing; a positive screen typed on the course page, whose answers nobody scored) never
      proceeds on the clinical date it was raised, whatever level the assessor chooses.
    - Such a task is assessed at a lower level only with a written rationale for the lower
      level (at least `RATIONALE_MIN` characters, apart from the assessment's own rationale).
      A "moderate" task (PHQ-9 item 9) assessed "low" needs only the assessment's rationale.
    An unknown task level counts as high (fail closed).
    """
    problems: dict[str, str] = {}
    task_rank = RISK_RANK.get(task_level, RISK_RANK[RiskLevel.HIGH])
    assessed_rank = RISK_RANK.get(assessment.risk_level)
    if (
        task_rank >= RISK_RANK[RiskLevel.HIGH]
        and assessed_rank is not None
        and assessed_rank < task_rank
        and len((downgrade_rationale or "").strip()) < RATIONALE_MIN
    ):
        problems["downgrade_rationale"] = (
            "The screen was high risk: explain in writing why the assessed level is lower "
            f"(at least {RATIONALE_MIN} characters)."
        )
    if (
        assessment.decision == RiskDecision.PROCEED
        and task_rank >= RISK_RANK[RiskLevel.HIGH]
        and same_clinical_day
    ):
        problems["decision"] = (
            "A high-risk screen is never cleared for dosing on the day it was raised: hold, or "
            "refer to a higher level of care, and reassess on a later day."
        )
    return problems


def risk_assessment_clears_gate(assessment: RiskAssessment, *, licensed: bool) -> bool:
    """Only a complete "proceed" assessment clears `screen.suicide_risk_positive`."""
    return assessment.decision == RiskDecision.PROCEED and not risk_assessment_problems(
        assessment, licensed=licensed
    )


__all__ = [
    "CATEGORY_LABELS",
    "DEFAULT_RULES",
    "RISK_RANK",
    "TIGHTENABLE",
    "Authority",
    "Category",
    "Justification",
    "LoosenedRule",
    "OverrideOutcome",
    "OverrideRule",
    "Refusal",
    "RiskAssessment",
    "RiskDecision",
    "RiskLevel",
    "Signer",
    "StandingDecision",
    "override_outcome",
    "practice_problems",
    "practice_table",
    "risk_assessment_clears_gate",
    "risk_assessment_problems",
    "rule_for",
    "stamp",
    "standing_covers",
    "task_assessment_problems",
    "why_not",
]
