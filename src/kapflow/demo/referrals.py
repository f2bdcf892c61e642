"""The demo's referrals, medical evaluations and eligibility decisions, planned for one
course at a time.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from kapflow.demo.plan import HIGHER, HOME, LOW, DemoCourse, Plan

# ---- referral, medical evaluation, eligibility decision ------------------------------------

# ICD-10-CM codes by what the course mainly treats: one primary code drawn from the first
# tuple, sometimes one from the second (kapflow.clinical.icd10 supplies the descriptions).
DIAGNOSES = {
    "depression": (("F33.1", "F33.2", "F32.A", "F32.1"), ("F41.1",)),
    "anxiety": (("F41.1",), ("F33.1", "F41.0")),
    "ptsd": (("F43.10", "F43.12"), ("F33.1",)),
    "ocd": (("F42.2",), ("F32.A",)),
    # Eligible clients' alcohol use disorder is in remission (nothing active in 3 months).
    "substance_use": (("F10.21",), ("F32.A",)),
    "other": (("F43.81",), ("F33.1",)),
}
REFERRAL_REASONS = {
    "depression": [
        "Recurrent depression with a partial response to two SSRI trials and 18 months of "
        "weekly psychotherapy. The client asks about ketamine-assisted psychotherapy as an "
        "adjunct, and we think they are a good candidate.",
        "Moderate depression that persists despite medication and therapy; low energy and "
        "loss of interest are the main complaints. Requesting a medical evaluation for KAP.",
        "Treatment-resistant depression after three antidepressant trials. Stable housing, "
        "good support, engaged in weekly therapy. Please evaluate for KAP.",
    ],
    "anxiety": [
        "Generalised anxiety with persistent worry and poor sleep; partial response to an SSRI "
        "and CBT. Requesting an evaluation for ketamine-assisted psychotherapy.",
        "Chronic anxiety that limits work and social life; motivated for an adjunct to "
        "therapy. Please evaluate for KAP.",
    ],
    "ptsd": [
        "PTSD after a road traffic collision; trauma-focused therapy has stalled around "
        "avoidance. Requesting an evaluation for KAP to support processing.",
        "Chronic PTSD with co-occurring depression; prolonged exposure helped in part. The "
        "client wants to explore KAP; please evaluate.",
    ],
    "ocd": [
        "OCD with contamination obsessions; partial response to exposure and response "
        "prevention and a high-dose SSRI. Requesting an evaluation for KAP alongside ERP.",
    ],
    "substance_use": [
        "Alcohol use disorder in early remission (sober eight months) with persistent low "
        "mood. Requesting an evaluation for KAP to support relapse-prevention work in therapy.",
    ],
    "other": [
        "Prolonged grief two years after a bereavement, with little change from grief-focused "
        "therapy alone. Please evaluate for KAP as an adjunct to our weekly sessions.",
    ],
}
REFERRAL_HISTORY = [
    "Weekly psychotherapy with us since {since}. No psychiatric hospitalisations.",
    "In therapy with us since {since}; previously with a counsellor for two years. No "
    "hospitalisations or suicide attempts.",
    "Seen weekly since {since}. One brief crisis contact years ago; none since.",
]
CONSENT_NOTES = [
    "Signed release of information for Northstar Medical Group, scanned to the record on {on}.",
    "The client signed the practice's release (ROI) at the intake session on {on}.",
    "Verbal consent at the intake session, then a signed release returned by e-mail on {on}.",
]
# (ingredient in kapflow.clinical.medications, dose as written, mg a day)
ANTIDEPRESSANTS = [
    ("sertraline", "100 mg once daily", 100.0),
    ("sertraline", "50 mg once daily", 50.0),
    ("escitalopram", "10 mg once daily", 10.0),
    ("escitalopram", "20 mg once daily", 20.0),
    ("fluoxetine", "20 mg once daily", 20.0),
    ("bupropion", "150 mg XL once daily", 150.0),
    ("venlafaxine", "75 mg ER once daily", 75.0),
]
OTHER_MEDICATIONS = [
    ("levothyroxine", "75 mcg once daily", 0.075),
    ("lisinopril", "10 mg once daily", 10.0),
    ("trazodone", "50 mg at bedtime", 50.0),
]
ALLERGIES = ["No known drug allergies.", "No known drug allergies.", "Penicillin (hives).",
             "Sulfa drugs (rash)."]  # fmt: skip
SUBSTANCE_USE = [
    "Alcohol one or two drinks a week; agrees to none for 24 hours either side of dosing. "
    "No other substances.",
    "No alcohol or drug use.",
    "Cannabis occasionally in the past; none in the last year. Alcohol rarely.",
]
EVALUATION_HISTORY = [
    "Referral history reviewed with the client. No cardiac, neurological or liver disease; no "
    "seizures. No personal or family history of psychosis or bipolar disorder.",
    "History taken by video and records from primary care reviewed. Generally well; no "
    "cardiovascular disease. No history of psychosis, mania or ketamine misuse.",
]
ELIGIBLE_REASONS = [
    "Evaluation complete: no contraindications on the checklist, blood pressure {bp} and "
    "heart rate normal, in ongoing therapy. Cleared for {pathway}.",
    "No exclusions or relative contraindications found. Current medicines reviewed: no "
    "interaction of concern with ketamine. Cleared for {pathway}; blood pressure to be "
    "checked before each session.",
    "Medically appropriate for KAP. Vitals normal ({bp}); no cardiovascular, psychotic or "
    "substance exclusions. Cleared for {pathway}.",
]
PATHWAY_WORDS = {HIGHER: "higher-dose sessions", LOW: "the psycholytic low-dose plan"}
# Not-eligible evaluations (DemoCourse.exclusion): what the prescriber found.
EXCLUSIONS = {
    "hypertension": {
        "medications": [("phenelzine", "15 mg three times daily", 45.0),
                        ("amlodipine", "5 mg once daily", 5.0)],
        "bp": (168, 104, 88),
        "checklist": {"contra.uncontrolled_hypertension": True},
        "history": "Hypertension for six years, treated with amlodipine; home readings "
                   "165-170/100-105 this month. On phenelzine since two SSRI trials did not "
                   "help.",
    },
    "psychosis": {
        "medications": [("phenelzine", "15 mg twice daily", 30.0),
                        ("quetiapine", "100 mg at bedtime", 100.0)],
        "bp": (124, 78, 72),
        "checklist": {"contra.psychotic_disorder": True},
        "history": "Records from the client's psychiatrist show schizoaffective disorder "
                   "diagnosed in 2019, with two hospital admissions for psychosis.",
    },
}  # fmt: skip


def _medication_rows(picks) -> list[dict]:
    """Evaluation medication rows as prescriptions.services.medications_clean stores them."""
    from kapflow.clinical.medications import medications_named

    rows = []
    for name, dose, daily in picks:
        (medication,) = medications_named(name)
        rows.append(
            {"name": medication.name, "rxcui": medication.rxcui, "dose": dose,
             "daily_dose_mg": daily}
        )  # fmt: skip
    return rows


def plan_referral(spec: DemoCourse, plan: Plan, *, course, rng, now, therapist, prescriber):
    """The referral of a course past "refer", its medical evaluation once accepted, and the
    signed eligibility decision once decided, as kapflow.prescriptions.services would have
    written them (unsaved; the decision's evaluation is the unsaved evaluation). Returns None
    before referral, else (referral, evaluation or None, decision or None)."""
    from kapflow.clinical import eligibility as screen
    from kapflow.clinical.icd10 import diagnosis_get
    from kapflow.prescriptions.models import (
        EligibilityDecision,
        MedicalEvaluation,
        Referral,
        ReferralStatus,
    )
    from kapflow.prescriptions.services import (
        EVALUATION_FIELDS,
        evaluation_input,
        findings_digest,
    )

    steps = plan.steps
    if "refer" not in steps:
        return None
    sent_at = steps["refer"]["occurred_at"]
    primary, secondary = DIAGNOSES[course.condition]
    codes = [rng.choice(primary)]
    if secondary and rng.random() < 0.4:
        codes.append(rng.choice(secondary))
    diagnoses = [{"code": d.code, "description": d.description} for d in map(diagnosis_get, codes)]
    exclusion = EXCLUSIONS.get(spec.exclusion)
    picks = [rng.choice(ANTIDEPRESSANTS)]
    if rng.random() < 0.5:
        picks.append(rng.choice(OTHER_MEDICATIONS))
    medications = _medication_rows(exclusion["medications"] if exclusion else picks)
    decided_at = None
    if "decide_eligible" in steps:
        decided_at = steps["decide_eligible"]["occurred_at"]
    elif "decide_not_eligible" in steps:
        decided_at = steps["decide_not_eligible"]["occurred_at"]

    referral = Referral(
        organisation=course.organisation, partner=prescriber.organisation, course=course,
        client=course.client, prescriber=prescriber, status=ReferralStatus.SENT,
        reason=rng.choice(REFERRAL_REASONS[course.condition]), diagnoses=diagnoses,
        medications="; ".join(f"{m['name'].capitalize()} {m['dose']}" for m in medications),
        history=rng.choice(REFERRAL_HISTORY).format(
            since=(plan.fields["opened_at"] - timedelta(days=rng.randint(90, 700))).strftime(
                "%B %Y"
            )
        ),
        share_scores=rng.random() < 0.8, scores=[], consent_to_share=True,
        consent_note=rng.choice(CONSENT_NOTES).format(
            on=timezone.localdate(steps["start_intake"]["occurred_at"]).isoformat()
        ),
        sent_by_id=therapist.user_id, sent_at=sent_at, status_changed_at=sent_at,
    )  # fmt: skip
    if "begin_evaluation" not in steps:
        if spec.stage in {"discharged", "withdrawn"}:  # closed while the referral was open
            referral.status, referral.status_reason = ReferralStatus.WITHDRAWN, spec.reason
            referral.status_changed_at, referral.responded_by_id = plan.closed_at, therapist.user_id
        return referral, None, None

    accepted_at = steps["begin_evaluation"]["occurred_at"]
    referral.status, referral.status_changed_at = ReferralStatus.ACCEPTED, accepted_at
    referral.responded_by_id = prescriber.user_id
    if decided_at is not None:
        referral.status, referral.status_changed_at = ReferralStatus.EVALUATED, decided_at
    elif spec.stage in {"discharged", "withdrawn"}:
        referral.status, referral.status_reason = ReferralStatus.WITHDRAWN, spec.reason
        referral.status_changed_at, referral.responded_by_id = plan.closed_at, therapist.user_id

    pronouns = course.client.pronouns
    pregnancy = {"she/her": "not_pregnant", "he/him": "not_applicable"}.get(
        pronouns, rng.choice(["not_pregnant", "not_applicable"])
    )
    height = rng.uniform(155, 190)
    weight = rng.uniform(19.5, 31) * (height / 100) ** 2
    evaluation = MedicalEvaluation(
        organisation=course.organisation, referral=referral, course=course,
        prescriber=prescriber, modality="video" if spec.delivery == HOME else rng.choice(
            ["video", "in_person"]
        ),
        history=exclusion["history"] if exclusion else rng.choice(EVALUATION_HISTORY),
        allergies=rng.choice(ALLERGIES), medications=medications,
        bp_systolic=rng.randint(108, 134), bp_diastolic=rng.randint(66, 84),
        heart_rate=rng.randint(58, 86), weight_kg=Decimal(f"{weight:.1f}"),
        height_cm=Decimal(f"{height:.1f}"), pregnancy=pregnancy, ongoing_therapy=True,
        checklist={item.code: False for item in screen.CHECKLIST},
        created_at=accepted_at, version=rng.randint(2, 4),
    )  # fmt: skip
    evaluation.substance_use = (
        "Alcohol use disorder, in remission for eight months; attends a peer support group "
        "weekly. No other substances."
        if course.condition == "substance_use"
        else rng.choice(SUBSTANCE_USE)
    )
    if exclusion:
        systolic, diastolic, pulse = exclusion["bp"]
        evaluation.bp_systolic, evaluation.bp_diastolic, evaluation.heart_rate = (
            systolic, diastolic, pulse,
        )  # fmt: skip
        evaluation.checklist |= exclusion["checklist"]
    if decided_at is None:
        # Begun, not finished: half the checklist answered, pregnancy and ongoing therapy not
        # yet asked, so the screen shows what is still missing.
        answered = rng.randint(5, len(screen.CHECKLIST) - 3)
        evaluation.checklist = {item.code: False for item in screen.CHECKLIST[:answered]}
        evaluation.pregnancy, evaluation.ongoing_therapy = "unknown", None
        evaluation.substance_use, evaluation.version = "", 2
        if rng.random() < 0.5:
            evaluation.bp_systolic = evaluation.bp_diastolic = evaluation.heart_rate = None
            evaluation.weight_kg = evaluation.height_cm = None
        seen = min(accepted_at + timedelta(days=rng.uniform(1, 3)), now - timedelta(hours=2))
        evaluation.evaluated_on, evaluation.updated_at = timezone.localdate(seen), seen
        return referral, evaluation, None

    if "decide_eligible" in steps:  # the clearance date is the evaluation's
        evaluated_on = date.fromisoformat(steps["decide_eligible"]["data"]["clearance_on"])
    else:
        evaluated_on = max(
            timezone.localdate(decided_at - timedelta(days=rng.uniform(1, 4))),
            timezone.localdate(accepted_at),
        )
    evaluation.evaluated_on = evaluated_on
    evaluation.updated_at = decided_at - timedelta(minutes=rng.randint(10, 240))
    findings = screen.eligibility_screen(
        evaluation_input(evaluation, on_date=timezone.localdate(decided_at))
    )
    eligible = spec.stage != "not_eligible"
    if eligible:
        bp = f"{evaluation.bp_systolic}/{evaluation.bp_diastolic}"
        reason = rng.choice(ELIGIBLE_REASONS).format(bp=bp, pathway=PATHWAY_WORDS[spec.pathway])
        if any(f.code == "diagnosis.substance_use" for f in findings):
            reason += (
                " Alcohol use disorder in sustained remission by history and collateral; the "
                "relative risk is weighed and acceptable with monitoring."
            )
        steps["decide_eligible"]["reason"] = reason
    snapshot = {
        name: str(v) if isinstance(v, date | Decimal) else v
        for name in EVALUATION_FIELDS
        for v in [getattr(evaluation, name)]
    }
    snapshot.update(
        medications=evaluation.medications, checklist=evaluation.checklist,
        diagnoses=referral.diagnoses, version=evaluation.version,
    )  # fmt: skip
    decision = EligibilityDecision(
        organisation=course.organisation, evaluation=evaluation, course=course,
        decision="eligible" if eligible else "not_eligible",
        reason=reason if eligible else spec.reason,
        findings=[f.as_dict() for f in findings], findings_digest=findings_digest(findings),
        evaluation_snapshot=snapshot,
        clearance_valid_days=spec.clearance_days if eligible else None,
        signature=prescriber.user.full_name, decided_by_id=prescriber.user_id,
        decided_by_membership=prescriber, decided_at=decided_at,
    )  # fmt: skip
    return referral, evaluation, decision
