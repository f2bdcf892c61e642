"""The eligibility screen of a medical evaluation: every finding, never a decision. Pure Python.

Owns the contraindication checklist the prescriber answers yes or no, and the rules that turn
an evaluation (age, checklist, medications, vitals, pregnancy status, referral diagnoses,
suicide-risk screen, ongoing therapy) into findings with a severity and a source
(DOMAIN.md section 2; seed 001 for the ongoing-therapy programme rule). The prescriber reads
the findings and decides; the findings are stored with the decision (`Finding.as_dict`).

A medication entry the catalogue does not recognise is a finding of its own, one per medicine
as typed, that the prescriber must confirm they reviewed by hand before deciding eligible
(`review_check`; decision 0028): an unknown medicine never passes silently.

Nothing here reads a clock: the evaluation's date is passed in. Thresholds come from
`EligibilityPolicy` (practice configuration).
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kapflow.clinical.course import age_on
from kapflow.clinical.icd10 import DiagnosisFlag, diagnosis_flags
from kapflow.clinical.medications import (
    DrugClass,
    Medication,
    medication_by_rxcui,
    medication_key,
    medications_named,
)
from kapflow.clinical.reasons import Reason


class Severity(StrEnum):
    EXCLUDE = "exclude"  # absolute contraindication or programme exclusion
    RELATIVE = "relative"  # relative contraindication: weigh risk
    INTERACTION = "interaction"  # drug interaction: monitor or adjust
    UNRECOGNISED = "unrecognised"  # a medicine not in the catalogue: review it by hand
    MISSING = "missing"  # information the screen needs is not recorded


SEVERITY_ORDER = (
    Severity.EXCLUDE,
    Severity.RELATIVE,
    Severity.INTERACTION,
    Severity.UNRECOGNISED,
    Severity.MISSING,
)

SEVERITY_LABELS = {
    Severity.EXCLUDE: "Exclusion",
    Severity.RELATIVE: "Relative contraindication",
    Severity.INTERACTION: "Drug interaction",
    Severity.UNRECOGNISED: "Not in the catalogue: review by hand",
    Severity.MISSING: "Missing information",
}

UNRECOGNISED_CODE = "medication.unrecognised"


@dataclass(frozen=True)
class Finding:
    """One thing the prescriber should weigh. `code` is stable; `message` is plain words that
    repeat no health information except a measured value where it helps ("Blood pressure
    172/104 ...") and the medicines or diagnosis codes involved. `medication` is set only on a
    finding about one medicine as typed (an unrecognised one): there is one such finding per
    medicine, so a finding is identified by its code and its medication."""

    code: str
    severity: Severity
    message: str
    source: str
    medication: str = ""

    def as_dict(self) -> dict:
        data = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "source": self.source,
        }
        if self.medication:  # absent otherwise, so earlier findings keep their digest
            data["medication"] = self.medication
        return data


@dataclass(frozen=True)
class ChecklistItem:
    """One yes/no question for the prescriber; `finding` is the message when answered yes."""

    code: str
    question: str
    severity: Severity
    source: str
    finding: str


CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        "contra.hypersensitivity",
        "Has the client ever reacted allergically to ketamine or esketamine?",
        Severity.EXCLUDE,
        "Ketalar PI; Spravato PI 4",
        "Known hypersensitivity to ketamine or esketamine: these medicines must not be used.",
    ),
    ChecklistItem(
        "contra.vascular",
        "Does the client have aneurysmal vascular disease, an arteriovenous malformation, or a "
        "history of bleeding inside the brain?",
        Severity.EXCLUDE,
        "Spravato PI 4",
        "Aneurysmal vascular disease, arteriovenous malformation or past intracerebral "
        "bleeding: an absolute contraindication on the esketamine label.",
    ),
    ChecklistItem(
        "contra.uncontrolled_hypertension",
        "Is the client's high blood pressure currently uncontrolled?",
        Severity.EXCLUDE,
        "Ketalar PI",
        "Uncontrolled hypertension: a rise in blood pressure is a serious hazard.",
    ),
    ChecklistItem(
        "contra.unstable_cardiovascular",
        "Does the client have unstable heart disease: a recent heart attack, unstable angina, "
        "heart failure that is not compensated, or an arrhythmia that is not controlled?",
        Severity.EXCLUDE,
        "Ketalar PI",
        "Unstable cardiovascular disease: a rise in blood pressure and heart rate is a "
        "serious hazard.",
    ),
    ChecklistItem(
        "contra.psychotic_disorder",
        "Has the client ever had schizophrenia, schizoaffective disorder or another primary "
        "psychotic disorder?",
        Severity.EXCLUDE,
        "Spravato PI 5.2; Sanacora 2017",
        "History of a primary psychotic disorder: excluded from ketamine-assisted "
        "psychotherapy in this programme.",
    ),
    ChecklistItem(
        "contra.current_psychosis",
        "Does the client have psychotic symptoms now?",
        Severity.EXCLUDE,
        "Spravato PI 5.2; Sanacora 2017",
        "Current psychosis: do not dose while psychotic symptoms are present.",
    ),
    ChecklistItem(
        "contra.current_mania",
        "Is the client in a manic or hypomanic episode now?",
        Severity.EXCLUDE,
        "Sanacora 2017",
        "Current mania or hypomania: do not dose during an elevated mood episode.",
    ),
    ChecklistItem(
        "contra.bipolar_i",
        "Does the client have bipolar I disorder?",
        Severity.RELATIVE,
        "Sanacora 2017",
        "Bipolar I disorder: decide case by case, and make sure there is no current manic episode.",
    ),
    ChecklistItem(
        "contra.substance_use",
        "Has the client had an active substance use disorder in the past 3 months, in "
        "particular with ketamine or other dissociatives, alcohol or sedatives?",
        Severity.RELATIVE,
        "NCT05604794; Spravato PI 5.3",
        "Active substance use disorder in the past 3 months: weigh the risk of misuse; many "
        "programmes exclude it.",
    ),
    ChecklistItem(
        "contra.intracranial_pressure",
        "Does the client have raised pressure inside the skull?",
        Severity.RELATIVE,
        "Spravato PI; NCT05604794",
        "Raised intracranial pressure: a relative contraindication; weigh the risk.",
    ),
    ChecklistItem(
        "contra.intraocular_pressure",
        "Does the client have raised pressure in the eye, such as glaucoma?",
        Severity.RELATIVE,
        "Spravato PI; NCT05604794",
        "Raised intraocular pressure or glaucoma: a relative contraindication; weigh the risk.",
    ),
    ChecklistItem(
        "contra.hepatic_impairment",
        "Does the client have severe liver impairment?",
        Severity.RELATIVE,
        "Spravato PI; NCT05604794",
        "Severe hepatic impairment: a relative contraindication; weigh the risk.",
    ),
    ChecklistItem(
        "contra.ketamine_cystitis",
        "Has the client ever had bladder damage or cystitis from ketamine?",
        Severity.RELATIVE,
        "Spravato PI; NCT05604794",
        "Past ketamine-related cystitis or bladder toxicity: frequent use can damage the "
        "bladder; weigh the risk.",
    ),
    ChecklistItem(
        "contra.suicidal_intent",
        "Does the client have active suicidal intent or a plan?",
        Severity.EXCLUDE,
        "Columbia triage guidelines",
        "Active suicidal intent or plan: the client needs a higher level of care now. "
        "At-home dosing is never appropriate.",
    ),
    ChecklistItem(
        "contra.alcohol",
        "Does the client drink regularly and would they be unable to stop for 24 hours before "
        "and after each dose?",
        Severity.INTERACTION,
        "Spravato PI 5.1, 7; practice",
        "Regular alcohol use that cannot stop 24 hours either side of dosing: alcohol adds to "
        "sedation and slowed breathing.",
    ),
)

CHECKLIST_BY_CODE = {item.code: item for item in CHECKLIST}


class Pregnancy(StrEnum):
    NOT_APPLICABLE = "not_applicable"
    NOT_PREGNANT = "not_pregnant"
    PREGNANT = "pregnant"
    BREASTFEEDING = "breastfeeding"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MedicationEntry:
    """One line of the client's medication list: a name as entered, its RxNorm ingredient code
    if picked from the catalogue, and the total daily dose in mg where known."""

    name: str
    rxcui: str = ""
    daily_dose_mg: float | None = None


@dataclass(frozen=True)
class EligibilityPolicy:
    """Practice-configurable thresholds. Defaults: DOMAIN.md section 2 (verify)."""

    bp_relative_systolic: int = 140  # above this: weigh risk (Spravato PI 2)
    bp_relative_diastolic: int = 90
    bp_exclude_systolic: int = 180  # at or above: clearly uncontrolled at evaluation
    bp_exclude_diastolic: int = 110
    bmi_relative: float = 35.0  # above this: relative contraindication
    benzodiazepine_high_dose_diazepam_mg: float = 20.0  # diazepam-equivalent mg/day, at or above


@dataclass(frozen=True)
class EvaluationInput:
    """Everything the screen reads about one client, as recorded at one evaluation."""

    on_date: date
    birth_date: date | None
    checklist: Mapping[str, bool | None]  # CHECKLIST code -> answer; missing or None: unanswered
    medications: tuple[MedicationEntry, ...] = ()
    bp_systolic: int | None = None
    bp_diastolic: int | None = None
    heart_rate: int | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    pregnancy: Pregnancy = Pregnancy.UNKNOWN
    diagnoses: tuple[str, ...] = ()  # ICD-10-CM codes from the referral
    ongoing_therapy: bool | None = None  # in therapy with a licensed provider (seed 001)
    suicide_screen_positive: bool = False  # latest C-SSRS / PHQ-9 item 9 screen positive
    at_home: bool = False  # the planned delivery is at home


def bmi(weight_kg: float | None, height_cm: float | None) -> float | None:
    """Body mass index, kg/m²; None when either measure is missing, not a finite positive
    number, or the result is not finite."""
    if weight_kg is None or height_cm is None:
        return None
    if not (math.isfinite(weight_kg) and math.isfinite(height_cm)):
        return None
    if weight_kg <= 0 or height_cm < 1:  # under 1 cm is no human height (and underflows)
        return None
    metres = height_cm / 100
    value = weight_kg / (metres * metres)
    return value if math.isfinite(value) else None


def _names(medications: Iterable[Medication]) -> str:
    return ", ".join(sorted({medication.name for medication in medications}))


def _identify(entry: MedicationEntry) -> tuple[Medication, ...]:
    """The catalogue ingredients an entry refers to: by code, else by name."""
    medication = medication_by_rxcui(entry.rxcui) if entry.rxcui.strip() else None
    if medication is not None:
        return (medication,)
    return medications_named(entry.name)


def _age_findings(evaluation: EvaluationInput) -> list[Finding]:
    if evaluation.birth_date is None:
        return [
            Finding(
                "missing.birth_date",
                Severity.MISSING,
                "Date of birth is not recorded, so age cannot be checked.",
                "Spravato PI",
            )
        ]
    if age_on(evaluation.birth_date, evaluation.on_date) < 18:
        return [
            Finding(
                "age.under_18",
                Severity.EXCLUDE,
                "The client is under 18: esketamine is not approved under 18, and clients "
                "under 18 are excluded.",
                "Spravato PI",
            )
        ]
    return []


def _checklist_findings(answers: Mapping[str, bool | None]) -> list[Finding]:
    findings = [
        Finding(item.code, item.severity, item.finding, item.source)
        for item in CHECKLIST
        if answers.get(item.code) is True
    ]
    unanswered = [item for item in CHECKLIST if answers.get(item.code) is None]
    if unanswered:
        questions = " ".join(f"({n}) {item.question}" for n, item in enumerate(unanswered, 1))
        count = len(unanswered)
        findings.append(
            Finding(
                "missing.checklist",
                Severity.MISSING,
                f"{count} checklist question{'s' if count > 1 else ''} not answered: {questions}",
                "Ketalar PI; Spravato PI; Sanacora 2017",
            )
        )
    return findings


def _pregnancy_findings(pregnancy: Pregnancy) -> list[Finding]:
    if pregnancy is Pregnancy.PREGNANT:
        return [
            Finding(
                "pregnancy.pregnant",
                Severity.EXCLUDE,
                "The client is pregnant: excluded while pregnant.",
                "Spravato PI 8.1",
            )
        ]
    if pregnancy is Pregnancy.BREASTFEEDING:
        return [
            Finding(
                "pregnancy.breastfeeding",
                Severity.EXCLUDE,
                "The client is breastfeeding: excluded while breastfeeding.",
                "Spravato PI 8.2",
            )
        ]
    if pregnancy is Pregnancy.UNKNOWN:
        return [
            Finding(
                "missing.pregnancy",
                Severity.MISSING,
                "Pregnancy and breastfeeding status is not recorded.",
                "Spravato PI 8.1, 8.2",
            )
        ]
    return []


def _bp_findings(evaluation: EvaluationInput, policy: EligibilityPolicy) -> list[Finding]:
    systolic, diastolic = evaluation.bp_systolic, evaluation.bp_diastolic
    if systolic is None or diastolic is None:
        return [
            Finding(
                "missing.bp",
                Severity.MISSING,
                "Blood pressure at evaluation is not recorded.",
                "Spravato PI 2, 5",
            )
        ]
    if systolic >= policy.bp_exclude_systolic or diastolic >= policy.bp_exclude_diastolic:
        return [
            Finding(
                "bp.uncontrolled",
                Severity.EXCLUDE,
                f"Blood pressure {systolic}/{diastolic} is at or above "
                f"{policy.bp_exclude_systolic}/{policy.bp_exclude_diastolic}: hypertension "
                "looks uncontrolled, and a rise in blood pressure is a serious hazard.",
                "Ketalar PI; practice threshold",
            )
        ]
    if systolic > policy.bp_relative_systolic or diastolic > policy.bp_relative_diastolic:
        return [
            Finding(
                "bp.raised",
                Severity.RELATIVE,
                f"Blood pressure {systolic}/{diastolic} is above "
                f"{policy.bp_relative_systolic}/{policy.bp_relative_diastolic}: weigh the "
                "risk of the rise during dosing.",
                "Spravato PI 2",
            )
        ]
    return []


def _bmi_findings(evaluation: EvaluationInput, policy: EligibilityPolicy) -> list[Finding]:
    value = bmi(evaluation.weight_kg, evaluation.height_cm)
    if value is None or value <= policy.bmi_relative:
        return []
    return [
        Finding(
            "bmi.high",
            Severity.RELATIVE,
            f"BMI {value:.1f} is above {policy.bmi_relative:g}: a relative contraindication; "
            "weigh the risk.",
            "Spravato PI; NCT05604794",
        )
    ]


def _unrecognised_findings(entries: tuple[MedicationEntry, ...]) -> list[Finding]:
    """One finding per medicine the catalogue does not recognise, named as typed (the first
    spelling when the same medicine is listed twice). Decision 0028."""
    findings: dict[str, Finding] = {}
    for entry in entries:
        if _identify(entry):
            continue
        typed = " ".join(entry.name.split()) or (
            f"RxNorm {entry.rxcui.strip()}" if entry.rxcui.strip() else ""
        )
        key = medication_key(typed)
        if not key or key in findings:
            continue
        findings[key] = Finding(
            UNRECOGNISED_CODE,
            Severity.UNRECOGNISED,
            f'"{typed}" is not in the catalogue: review by hand. kapflow cannot screen it for '
            "interactions with ketamine or for what it says about the client's history.",
            "kapflow medication catalogue (decision 0028)",
            medication=typed,
        )
    return list(findings.values())


def _medication_findings(
    entries: tuple[MedicationEntry, ...], policy: EligibilityPolicy
) -> list[Finding]:
    by_class: dict[DrugClass, set[Medication]] = {}
    diazepam_mg = 0.0
    undosed: set[Medication] = set()
    for entry in entries:
        for medication in _identify(entry):
            for drug_class in medication.classes:
                by_class.setdefault(drug_class, set()).add(medication)
            if DrugClass.BENZODIAZEPINE in medication.classes:
                dose, factor = entry.daily_dose_mg, medication.diazepam_mg_equivalent
                if dose is None or factor is None or not math.isfinite(dose) or dose < 0:
                    undosed.add(medication)
                else:
                    diazepam_mg += dose * factor

    findings: list[Finding] = []
    if maois := by_class.get(DrugClass.MAOI):
        findings.append(
            Finding(
                "interaction.maoi",
                Severity.INTERACTION,
                f"MAOI ({_names(maois)}): ketamine can raise blood pressure further; monitor "
                "blood pressure closely.",
                "Spravato PI 7",
            )
        )
    if stimulants := by_class.get(DrugClass.STIMULANT):
        findings.append(
            Finding(
                "interaction.stimulant",
                Severity.INTERACTION,
                f"Psychostimulant ({_names(stimulants)}): ketamine can raise blood pressure "
                "further; monitor blood pressure closely.",
                "Spravato PI 7",
            )
        )
    if benzodiazepines := by_class.get(DrugClass.BENZODIAZEPINE):
        message = (
            f"Benzodiazepine ({_names(benzodiazepines)}): adds sedation and slowed breathing, "
            "and may blunt the response to ketamine; it is often held or reduced before "
            "dosing."
        )
        if undosed:
            message += (
                f" Daily dose not recorded for {_names(undosed)}, so the total "
                "diazepam-equivalent dose is incomplete."
            )
        findings.append(
            Finding(
                "interaction.benzodiazepine",
                Severity.INTERACTION,
                message,
                "Spravato PI 5.1, 7; practice (verify)",
            )
        )
        if diazepam_mg >= policy.benzodiazepine_high_dose_diazepam_mg:
            findings.append(
                Finding(
                    "interaction.benzodiazepine_high_dose",
                    Severity.RELATIVE,
                    f"Benzodiazepines total about {diazepam_mg:g} mg diazepam-equivalent a "
                    f"day, at or above {policy.benzodiazepine_high_dose_diazepam_mg:g} mg: a "
                    "high dose to hold or reduce before dosing; weigh the risk.",
                    "Ashton manual (equivalents); practice threshold",
                )
            )
    depressants = by_class.get(DrugClass.OPIOID, set()) | by_class.get(
        DrugClass.CNS_DEPRESSANT, set()
    )
    if depressants:
        findings.append(
            Finding(
                "interaction.cns_depressant",
                Severity.INTERACTION,
                f"Opioid or other sedating medicine ({_names(depressants)}): adds sedation and "
                "slowed breathing; monitor closely.",
                "Spravato PI 5.1, 7",
            )
        )
    if lamotrigine := by_class.get(DrugClass.LAMOTRIGINE):
        findings.append(
            Finding(
                "interaction.lamotrigine",
                Severity.INTERACTION,
                f"Lamotrigine ({_names(lamotrigine)}) may blunt the response to ketamine; it "
                "is sometimes held or reduced before dosing.",
                "Practice (verify)",
            )
        )
    mood_stabilisers = by_class.get(DrugClass.MOOD_STABILISER, set()) - by_class.get(
        DrugClass.LAMOTRIGINE, set()
    )
    if mood_stabilisers:
        findings.append(
            Finding(
                "interaction.mood_stabiliser",
                Severity.INTERACTION,
                f"Mood stabiliser ({_names(mood_stabilisers)}): usually taken for bipolar "
                "disorder. Confirm why, make sure there is no current manic or hypomanic "
                "episode, and weigh bipolar I case by case; ketamine trials in bipolar "
                "depression kept lithium or valproate at therapeutic levels.",
                "Sanacora 2017; Diazgranados 2010 (Arch Gen Psychiatry 67:793) (verify)",
            )
        )
    if antipsychotics := by_class.get(DrugClass.ANTIPSYCHOTIC):
        findings.append(
            Finding(
                "interaction.antipsychotic",
                Severity.INTERACTION,
                f"Antipsychotic ({_names(antipsychotics)}): adds sedation. Confirm why it is "
                "taken: a psychotic disorder is excluded here and bipolar disorder needs a "
                "case-by-case decision; it may also be an add-on for depression or for sleep.",
                "Spravato PI 5.1, 5.2, 7; Sanacora 2017",
            )
        )
    if nmda := by_class.get(DrugClass.NMDA_ANTAGONIST):
        findings.append(
            Finding(
                "interaction.nmda_antagonist",
                Severity.INTERACTION,
                f"Another NMDA receptor antagonist ({_names(nmda)}) acts where ketamine acts: "
                "their combined use has not been systematically evaluated, and the memantine "
                "label asks for caution.",
                "Namenda PI 7.1 (DailyMed)",
            )
        )
    if antagonists := by_class.get(DrugClass.OPIOID_ANTAGONIST):
        findings.append(
            Finding(
                "interaction.opioid_antagonist",
                Severity.INTERACTION,
                f"Opioid antagonist ({_names(antagonists)}): in a small trial it blocked the "
                "antidepressant effect of intravenous ketamine, and it blocks opioid pain "
                "relief in an emergency. Decide whether it matters for this client.",
                "Williams 2018 (Am J Psychiatry 175:1205); naltrexone label (DailyMed)",
            )
        )
    if addiction := by_class.get(DrugClass.ADDICTION_TREATMENT):
        findings.append(
            Finding(
                "interaction.addiction_treatment",
                Severity.INTERACTION,
                f"Often prescribed for an opioid or alcohol use disorder ({_names(addiction)}): "
                "confirm why, and whether a substance use disorder is active or in remission; "
                "ketamine carries a risk of misuse.",
                "NCT05604794; Spravato PI 5.3",
            )
        )
    if inducers := by_class.get(DrugClass.CYP_INDUCER):
        findings.append(
            Finding(
                "interaction.enzyme_inducer",
                Severity.INTERACTION,
                f"Enzyme inducer ({_names(inducers)}): speeds up the breakdown of ketamine "
                "(CYP3A4). St John's wort cut oral S-ketamine exposure by more than half, so "
                "usual oral or sublingual doses may work less.",
                "Peltoniemi 2012 (Fundam Clin Pharmacol 26:743); FDA CYP3A inducer table",
            )
        )
    findings += _unrecognised_findings(entries)
    return findings


_DIAGNOSIS_RULES: tuple[tuple[DiagnosisFlag, str, Severity, str, str], ...] = (
    (
        DiagnosisFlag.PSYCHOTIC,
        "diagnosis.psychotic",
        Severity.EXCLUDE,
        "Spravato PI 5.2; Sanacora 2017",
        "a primary psychotic disorder, excluded from this programme",
    ),
    (
        DiagnosisFlag.BIPOLAR,
        "diagnosis.bipolar",
        Severity.RELATIVE,
        "Sanacora 2017",
        "bipolar disorder; decide case by case and exclude a current manic episode",
    ),
    (
        DiagnosisFlag.SUBSTANCE_USE,
        "diagnosis.substance_use",
        Severity.RELATIVE,
        "NCT05604794; Spravato PI 5.3",
        "a substance use disorder (check whether it is active or in remission); weigh the "
        "risk of misuse",
    ),
    (
        DiagnosisFlag.SUICIDE_RISK,
        "diagnosis.suicide_risk",
        Severity.RELATIVE,
        "Columbia triage guidelines",
        "suicidal ideation or past suicidal behaviour; assess current risk before dosing",
    ),
)


def _diagnosis_findings(codes: tuple[str, ...]) -> list[Finding]:
    flagged: dict[DiagnosisFlag, set[str]] = {}
    for code in codes:
        for flag in diagnosis_flags(code):
            flagged.setdefault(flag, set()).add(code.strip().upper())
    findings = []
    for flag, finding_code, severity, source, meaning in _DIAGNOSIS_RULES:
        if flag in flagged:
            shown = ", ".join(sorted(flagged[flag]))
            findings.append(
                Finding(finding_code, severity, f"Referral diagnosis {shown}: {meaning}.", source)
            )
    return findings


def _screen_findings(evaluation: EvaluationInput) -> list[Finding]:
    findings = []
    if evaluation.suicide_screen_positive:
        message = (
            "The latest suicide-risk screen is positive: a clinician must evaluate the client "
            "the same day, and there is no dosing until they have."
        )
        if evaluation.at_home:
            message += " At-home dosing is not appropriate while risk is raised."
        findings.append(
            Finding(
                "screen.suicide_risk_positive",
                Severity.EXCLUDE,
                message,
                "Columbia triage guidelines",
            )
        )
    if evaluation.ongoing_therapy is False:
        findings.append(
            Finding(
                "programme.no_ongoing_therapy",
                Severity.EXCLUDE,
                "The client is not in ongoing therapy with a licensed provider, which "
                "ketamine-assisted psychotherapy here requires.",
                "Seed 001 (programme rule)",
            )
        )
    elif evaluation.ongoing_therapy is None:
        findings.append(
            Finding(
                "missing.ongoing_therapy",
                Severity.MISSING,
                "Not recorded whether the client is in ongoing therapy with a licensed provider.",
                "Seed 001 (programme rule)",
            )
        )
    return findings


def eligibility_screen(
    evaluation: EvaluationInput, *, policy: EligibilityPolicy | None = None
) -> list[Finding]:
    """Every finding for one medical evaluation (DOMAIN.md section 2; Spravato PI; Ketalar PI;
    Sanacora 2017; Columbia triage; seed 001), most serious first: sorted by `SEVERITY_ORDER`
    then code (then medicine), one finding per code and medicine. An empty list means nothing
    was found, not "eligible": the prescriber decides."""
    policy = policy or EligibilityPolicy()
    findings = [
        *_age_findings(evaluation),
        *_checklist_findings(evaluation.checklist),
        *_pregnancy_findings(evaluation.pregnancy),
        *_bp_findings(evaluation, policy),
        *_bmi_findings(evaluation, policy),
        *_medication_findings(evaluation.medications, policy),
        *_diagnosis_findings(evaluation.diagnoses),
        *_screen_findings(evaluation),
    ]
    unique: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        unique.setdefault((finding.code, medication_key(finding.medication)), finding)
    rank = {severity: n for n, severity in enumerate(SEVERITY_ORDER)}
    return sorted(
        unique.values(),
        key=lambda f: (rank[f.severity], f.code, medication_key(f.medication), f.medication),
    )


def medications_to_review(findings: Iterable[Finding]) -> list[str]:
    """The medicines, as typed, that are not in the catalogue and so must be reviewed by hand
    before an eligible decision (decision 0028), in the order the findings list them."""
    return [f.medication for f in findings if f.code == UNRECOGNISED_CODE]


@dataclass(frozen=True)
class ReviewCheck:
    """A prescriber's "reviewed by hand" ticks checked against the findings: `confirmed` are
    the medicines (as the findings name them) the ticks cover, `missing` those still to
    review, `unknown` ticks that name no medicine to review (a stale page, a typo)."""

    confirmed: tuple[str, ...]
    missing: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unknown


def review_check(findings: Iterable[Finding], reviewed: Iterable[str]) -> ReviewCheck:
    """Match the medicines the prescriber ticked as reviewed by hand to the unrecognised ones
    in `findings`, ignoring case, spacing, apostrophes and full stops (decision 0028). Only a
    tick per medicine clears it; free text (the reason) never does."""
    to_review = medications_to_review(findings)
    ticked = {medication_key(name): name for name in reviewed if medication_key(name)}
    wanted = {medication_key(name) for name in to_review}
    return ReviewCheck(
        confirmed=tuple(name for name in to_review if medication_key(name) in ticked),
        missing=tuple(name for name in to_review if medication_key(name) not in ticked),
        unknown=tuple(name for key, name in ticked.items() if key not in wanted),
    )


def eligible_reasons(findings: Iterable[Finding], *, exclusions_acknowledged: bool) -> list[Reason]:
    """Why an "eligible" decision cannot be signed on these findings: every finding still
    missing (hard), and every exclusion the prescriber has not confirmed reviewing (soft: the
    confirmation is theirs to give, with the decision's written reason)."""
    findings = list(findings)
    reasons = [
        Reason(f.code, f"Still missing: {f.message}")
        for f in findings
        if f.severity is Severity.MISSING
    ]
    if not exclusions_acknowledged:
        reasons += [
            Reason(
                f.code,
                f"Exclusion found: {f.message} Confirm you reviewed it to decide eligible.",
                overridable=True,
            )
            for f in findings
            if f.severity is Severity.EXCLUDE
        ]
    return reasons


def findings_summary(findings: Iterable[Finding]) -> dict[Severity, int]:
    """How many findings of each severity, every severity present (zero when none)."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return counts


__all__ = [
    "CHECKLIST",
    "CHECKLIST_BY_CODE",
    "SEVERITY_LABELS",
    "SEVERITY_ORDER",
    "UNRECOGNISED_CODE",
    "ChecklistItem",
    "EligibilityPolicy",
    "EvaluationInput",
    "Finding",
    "MedicationEntry",
    "Pregnancy",
    "ReviewCheck",
    "Severity",
    "bmi",
    "eligibility_screen",
    "eligible_reasons",
    "findings_summary",
    "medications_to_review",
    "review_check",
]
