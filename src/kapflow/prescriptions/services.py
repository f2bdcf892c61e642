"""Write paths of the practice-partner collaboration: send and answer a referral, record the
medical evaluation, sign the eligibility decision, issue and fill prescriptions, use doses,
raise and resolve refill requests, record follow-ups, log daily low doses.

Rules come from kapflow.clinical (eligibility screen, prescribing limits, the course gate);
stage changes go through kapflow.courses.services.course_workflow_step so the course timeline
and its locks stay the single path. Every function is one transaction, checks the policy
first, and writes its audit row inside the transaction.
"""

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import course as course_rules
from kapflow.clinical import eligibility as screen
from kapflow.clinical import prescribing as rx
from kapflow.clinical.icd10 import diagnosis_get
from kapflow.clinical.medications import medication_by_rxcui, medication_exact
from kapflow.core import clock
from kapflow.core.bounds import DateKind, Start, check_date, check_instant, start_of
from kapflow.core.errors import DomainError, GateBlocked, PermissionDenied
from kapflow.courses import services as course_services
from kapflow.courses.models import Course, CourseEvent, EventKind
from kapflow.courses.selectors import course_facts, with_facts
from kapflow.prescriptions.doses import supply, use_dose
from kapflow.prescriptions.models import (
    OPEN_REFERRAL,
    Decision,
    Dispense,
    DoseAuthorisation,
    DoseSource,
    DoseUse,
    EligibilityDecision,
    Handover,
    MedicalEvaluation,
    Prescription,
    PrescriptionStatus,
    Referral,
    ReferralStatus,
    RefillRequest,
    RefillStatus,
)

MAX_DIAGNOSES = 12
MAX_MEDICATIONS = 30


# ---- referral ------------------------------------------------------------------------------


def _course_for(actor: Membership, course_id: int) -> Course:
    """The course, locked, with its facts and care team; NotFound when not visible."""
    return course_services.course_for_update(actor, course_id)


def _referral_for(actor: Membership, referral_id: int) -> Referral:
    referral = (
        policy.referrals_queryset(actor)
        .select_for_update(of=("self",))
        .select_related("course", "client", "prescriber__user")
        .filter(pk=referral_id)
        .first()
    )
    if referral is None:
        raise audit_not_found(
            actor=actor, model=Referral, object_id=referral_id, message="Referral not found."
        )
    return referral


def _diagnoses(codes: list[str]) -> list[dict]:
    found, unknown, seen = [], [], set()
    # The referral page also takes codes typed into one box, separated by commas.
    for raw in (part for value in codes for part in (value or "").split(",")):
        raw = raw.strip()
        if not raw:
            continue
        diagnosis = diagnosis_get(raw)
        if diagnosis is None:
            unknown.append(raw[:10])
        elif diagnosis.code not in seen:
            seen.add(diagnosis.code)
            found.append({"code": diagnosis.code, "description": diagnosis.description})
    if unknown:
        raise ValidationError(
            {"diagnoses": f"Not an ICD-10-CM code: {', '.join(unknown)}. Pick from the list."}
        )
    if len(found) > MAX_DIAGNOSES:
        raise ValidationError({"diagnoses": f"List at most {MAX_DIAGNOSES} diagnoses."})
    return found


def _score_snapshot(client_id: int) -> list[dict]:
    """The latest current score of each questionnaire, as shared with the referral."""
    from kapflow.assessments.models import Response
    from kapflow.assessments.selectors import current_responses
    from kapflow.clinical.instruments import REGISTRY

    latest: dict[str, Response] = {}
    rows = (
        current_responses(Response.objects.filter(client_id=client_id))
        .select_related("organisation")
        .order_by("-submitted_at", "-id")
    )
    for response in rows[:200]:
        latest.setdefault(response.instrument, response)
    return [
        {
            "instrument": code,
            "label": REGISTRY[code].short_name if code in REGISTRY else code,
            "score": r.total,
            "band": r.band,
            "on": clock.clinical_date(r.organisation, r.submitted_at).isoformat(),
        }
        for code, r in sorted(latest.items())
    ]


@transaction.atomic
def referral_send(
    *,
    actor: Membership,
    course_id: int,
    prescriber_id: int | None,
    reason: str,
    diagnoses: list[str],
    medications: str = "",
    history: str = "",
    share_scores: bool = False,
    consent_to_share: bool = False,
    consent_note: str = "",
    now: datetime | None = None,
) -> Referral:
    """The therapist refers the course to a prescriber (of a partner, or of the practice).
    The partner sees only what is sent here; the care-team grant is created by the course's
    refer step."""
    now = now or timezone.now()
    course = _course_for(actor, course_id)
    if not policy.can_refer(actor, course):
        raise PermissionDenied("Referring is for the client's therapists.")
    errors: dict[str, str] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Say why the client is referred."
    if not consent_to_share:
        errors["consent_to_share"] = (
            "The client must consent to sharing this information with the prescriber."
        )
    if not (consent_note or "").strip():
        errors["consent_note"] = "Say how the client gave consent (for example, a signed release)."
    if prescriber_id is None:
        errors["prescriber"] = "Choose the prescriber the client is referred to."
    try:
        coded = _diagnoses(diagnoses)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        coded = []
    if not coded and "diagnoses" not in errors:
        errors["diagnoses"] = "Add at least one diagnosis."
    prescriber = None
    if prescriber_id is not None:
        try:
            prescriber = course_services._prescriber_choice(course, prescriber_id)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    if Referral.objects.filter(course=course, status__in=OPEN_REFERRAL).exists():
        raise DomainError("This course already has an open referral.", code="referral.open")
    course_services.course_workflow_step(
        actor=actor, course_id=course.pk, action=course_rules.Action.REFER.value,
        prescriber_id=prescriber.pk, reason="Referral sent.", now=now,
    )  # fmt: skip
    referral = Referral(
        organisation=course.organisation, partner=prescriber.organisation, course=course,
        client=course.client, prescriber=prescriber, reason=reason, diagnoses=coded,
        medications=(medications or "").strip(), history=(history or "").strip(),
        share_scores=bool(share_scores),
        scores=_score_snapshot(course.client_id) if share_scores else [],
        consent_to_share=True, consent_note=consent_note.strip(), sent_by=actor.user,
        sent_at=now, status_changed_at=now,
    )  # fmt: skip
    referral.full_clean()
    referral.save()
    audit_record(actor=actor, action="referral.send", target=referral, client_id=course.client_id)
    _notify_in_app([prescriber], "referral_received", "prescriptions:referral", referral.pk, actor)
    transaction.on_commit(lambda: _notify_referral(referral.pk))
    return referral


def _storable(value: datetime, field: str) -> datetime:
    """An aware datetime the database can store: at the ends of the calendar an offset can
    push it past year 1 or 9999 in UTC, which would fail on saving (a server error)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValidationError({field: "Enter a real date and time."}) from None
    return value


def _notify_referral(referral_id: int) -> None:
    from kapflow.prescriptions.tasks import referral_notify

    referral_notify.enqueue(referral_id=referral_id)


def _set_status(referral: Referral, status: str, *, actor, now, reason: str = "") -> None:
    referral.status = status
    referral.status_changed_at = now
    referral.responded_by = actor.user
    if reason:
        referral.status_reason = reason
    referral.full_clean()
    referral.save()


@transaction.atomic
def referral_accept(*, actor: Membership, referral_id: int, now: datetime | None = None):
    """The named prescriber accepts: the evaluation begins (a draft is opened)."""
    now = now or timezone.now()
    referral = _referral_for(actor, referral_id)
    if not policy.is_referral_prescriber(actor, referral):
        raise PermissionDenied("Only the prescriber the referral names can accept it.")
    if referral.status != ReferralStatus.SENT:
        raise GateBlocked(
            [course_rules.Reason("referral.not_sent", "Only a newly sent referral is accepted.")]
        )
    course_services.course_workflow_step(
        actor=actor, course_id=referral.course_id,
        action=course_rules.Action.BEGIN_EVALUATION.value, reason="Referral accepted.",
        now=now,
    )  # fmt: skip
    _set_status(referral, ReferralStatus.ACCEPTED, actor=actor, now=now)
    # What the practice sent is the evaluation's starting point, not typed again: the
    # referral's history and its medicines (coded where the catalogue knows them), and
    # ongoing therapy, which the referral itself attests (the client's therapist sent it).
    # The prescriber checks them with the client; nothing is screened until it is saved.
    evaluation = MedicalEvaluation(
        organisation=referral.organisation, referral=referral, course=referral.course,
        prescriber=actor, evaluated_on=clock.clinical_date(referral.organisation, now),
        history=referral.history,
        medications=medications_clean(referral_medication_rows(referral.medications)),
        ongoing_therapy=True,
    )  # fmt: skip
    evaluation.full_clean()
    evaluation.save()
    audit_record(
        actor=actor, action="referral.accept", target=referral, client_id=referral.client_id
    )
    return referral


@transaction.atomic
def referral_schedule(
    *, actor: Membership, referral_id: int, scheduled_for: datetime, now: datetime | None = None
) -> Referral:
    now = now or timezone.now()
    referral = _referral_for(actor, referral_id)
    if not policy.is_referral_prescriber(actor, referral):
        raise PermissionDenied("Only the referral's prescriber schedules the evaluation.")
    if referral.status not in (ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED):
        raise GateBlocked(
            [course_rules.Reason("referral.not_accepted", "Accept the referral first.")]
        )
    if scheduled_for is None:
        raise ValidationError({"scheduled_for": "Enter the evaluation's date and time."})
    scheduled_for = _storable(scheduled_for, "scheduled_for")
    # A booking may be ahead (up to the horizon) but not before the referral it answers.
    check_instant(
        "scheduled_for", scheduled_for, organisation=referral.organisation,
        kind=DateKind.PLANNED, born=referral.client.date_of_birth, now=now,
        starts=(start_of(referral.organisation, referral.sent_at, "the referral was sent"),),
    )  # fmt: skip
    referral.scheduled_for = scheduled_for
    _set_status(referral, ReferralStatus.SCHEDULED, actor=actor, now=now)
    audit_record(
        actor=actor, action="referral.schedule", target=referral, client_id=referral.client_id,
        changed_fields=["scheduled_for", "status"],
    )  # fmt: skip
    return referral


@transaction.atomic
def referral_close(
    *, actor: Membership, referral_id: int, reason: str, now: datetime | None = None
) -> Referral:
    """Decline (the prescriber) or withdraw (the practice's therapist) an open referral. The
    course returns to intake and the prescriber's access grant ends."""
    now = now or timezone.now()
    referral = _referral_for(actor, referral_id)
    reason = (reason or "").strip()
    if policy.is_referral_prescriber(actor, referral):
        status, verb = ReferralStatus.DECLINED, "declined"
    else:
        course = Course.objects.prefetch_related("client__care_team").get(pk=referral.course_id)
        if not policy.can_refer(actor, course):
            raise PermissionDenied("Only the prescriber or the client's therapist can do this.")
        status, verb = ReferralStatus.WITHDRAWN, "withdrawn"
    if not reason:
        raise ValidationError({"reason": "Say why; the other side reads this."})
    if not referral.is_open:
        raise GateBlocked(
            [course_rules.Reason("referral.closed", "This referral is no longer open.")]
        )
    course_services.course_workflow_step(
        actor=actor, course_id=referral.course_id,
        action=course_rules.Action.DECLINE_REFERRAL.value, reason=f"Referral {verb}: {reason}",
        now=now,
    )  # fmt: skip
    _set_status(referral, status, actor=actor, now=now, reason=reason)
    audit_record(
        actor=actor, action=f"referral.{status}", target=referral, client_id=referral.client_id
    )
    return referral


# ---- evaluation ----------------------------------------------------------------------------


def _evaluation_for(actor: Membership, evaluation_id: int) -> MedicalEvaluation:
    evaluation = (
        MedicalEvaluation.objects.select_for_update(of=("self",))
        .select_related("referral", "course__client")
        .filter(pk=evaluation_id, referral__in=policy.referrals_queryset(actor))
        .first()
    )
    if evaluation is None:
        raise audit_not_found(
            actor=actor, model=MedicalEvaluation, object_id=evaluation_id,
            message="Evaluation not found.",
        )  # fmt: skip
    return evaluation


def _decimal(value, field: str, errors: dict) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[field] = "Enter a number."
        return None


def referral_medication_rows(text: str) -> list[dict]:
    """The referral's free-text medicines (one per line or separated by ";") as evaluation
    rows: the name is the longest leading run of words the catalogue knows, else the words
    before the first one with a digit; the rest is the dose as written. At most the form's
    eight rows and MAX_MEDICATIONS are kept."""
    rows: list[dict] = []
    for line in re.split(r"[\n;]+", text or ""):
        words = line.split()
        if not words:
            continue
        cut = next(
            (n for n in range(len(words), 0, -1) if medication_exact(" ".join(words[:n]))),
            None,
        )
        if cut is None:
            cut = next((i for i, w in enumerate(words) if any(c.isdigit() for c in w)), None)
            cut = cut or len(words)
        rows.append({"name": " ".join(words[:cut]), "dose": " ".join(words[cut:])})
    return rows[:MAX_MEDICATIONS]


def medications_clean(rows: list[dict]) -> list[dict]:
    """Medication rows: the name (coded from the RxNorm catalogue when it names exactly one
    ingredient, brand or alias; kept as typed otherwise), the dose as written, and the total mg
    per day (used for the benzodiazepine dose check)."""
    cleaned: list[dict] = []
    errors: list[str] = []
    for i, row in enumerate(rows or [], start=1):
        name = str(row.get("name") or "").strip()[:120]
        if not name:
            continue
        rxcui = str(row.get("rxcui") or "").strip()
        known = medication_by_rxcui(rxcui) if rxcui else None
        if known is None:
            # A combination brand (Adderall, Auvelity) stays as typed: the screen finds both.
            known = medication_exact(name)
        daily = row.get("daily_dose_mg")
        try:
            daily = None if daily in (None, "") else float(daily)
        except (TypeError, ValueError):
            errors.append(f"Row {i}: the daily dose must be a number of mg.")
            daily = None
        if daily is not None and not 0 < daily <= 10000:
            errors.append(f"Row {i}: the daily dose must be between 0 and 10,000 mg.")
        cleaned.append(
            {
                "name": known.name if known else name,
                "rxcui": known.rxcui if known else "",
                "dose": str(row.get("dose") or "").strip()[:80],
                "daily_dose_mg": daily,
            }
        )
    if len(cleaned) > MAX_MEDICATIONS:
        errors.append(f"List at most {MAX_MEDICATIONS} medications.")
    if errors:
        raise ValidationError({"medications": errors})
    return cleaned


EVALUATION_FIELDS = (
    "evaluated_on", "modality", "history", "allergies", "substance_use", "bp_systolic",
    "bp_diastolic", "heart_rate", "weight_kg", "height_cm", "pregnancy", "ongoing_therapy",
)  # fmt: skip


@transaction.atomic
def evaluation_save(
    *,
    actor: Membership,
    evaluation_id: int,
    data: dict,
    medications: list[dict],
    checklist: dict[str, bool | None],
    version: int,
    now: datetime | None = None,
) -> MedicalEvaluation:
    """Save the evaluation draft. `version` is the one the form was loaded with: if someone
    saved since, nothing is written and the prescriber reloads (no silent overwrite)."""
    now = now or timezone.now()
    evaluation = _evaluation_for(actor, evaluation_id)
    if evaluation.prescriber_id != actor.pk:
        raise PermissionDenied("Only the evaluating prescriber edits the evaluation.")
    if evaluation.referral.status not in (ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED):
        raise GateBlocked(
            [course_rules.Reason("evaluation.closed", "The evaluation is decided and locked.")]
        )
    if version != evaluation.version:
        raise DomainError(
            "Someone saved this evaluation after you opened it. Reload to see their changes.",
            code="evaluation.stale",
        )
    known = {item.code for item in screen.CHECKLIST}
    unknown = set(checklist) - known
    if unknown:
        raise ValidationError({"checklist": "Unknown checklist item."})
    changed = []
    for field in EVALUATION_FIELDS:
        if field in data and getattr(evaluation, field) != data[field]:
            setattr(evaluation, field, data[field])
            changed.append(field)
    meds = medications_clean(medications)
    if meds != evaluation.medications:
        evaluation.medications = meds
        changed.append("medications")
    answers = {k: v for k, v in checklist.items() if v is not None}
    if answers != evaluation.checklist:
        evaluation.checklist = answers
        changed.append("checklist")
    if evaluation.evaluated_on and evaluation.evaluated_on > clock.clinical_date(
        evaluation.organisation, now
    ):
        raise ValidationError({"evaluated_on": "The evaluation date cannot be in the future."})
    # The evaluation answers the referral: not before it was sent (nor the client's birth).
    check_date(
        "evaluated_on", evaluation.evaluated_on, organisation=evaluation.organisation,
        kind=DateKind.HAPPENED, born=evaluation.course.client.date_of_birth, now=now,
        starts=(start_of(evaluation.organisation, evaluation.referral.sent_at,
                         "the referral was sent"),),
    )  # fmt: skip
    evaluation.updated_at = now
    evaluation.version += 1
    evaluation.full_clean()
    evaluation.save()
    audit_record(
        actor=actor, action="evaluation.update", target=evaluation,
        client_id=evaluation.course.client_id, changed_fields=changed,
    )  # fmt: skip
    return evaluation


def evaluation_input(evaluation: MedicalEvaluation, *, on_date: date) -> screen.EvaluationInput:
    """The screen's view of an evaluation, its referral and the course (no writes)."""
    course = evaluation.course
    facts = course_facts(course) if hasattr(course, "preparation_done") else None
    return screen.EvaluationInput(
        on_date=on_date,
        birth_date=course.client.date_of_birth,
        checklist=dict(evaluation.checklist),
        medications=tuple(
            screen.MedicationEntry(
                name=m.get("name", ""),
                rxcui=m.get("rxcui", ""),
                daily_dose_mg=m.get("daily_dose_mg"),
            )
            for m in evaluation.medications
        ),
        bp_systolic=evaluation.bp_systolic,
        bp_diastolic=evaluation.bp_diastolic,
        heart_rate=evaluation.heart_rate,
        weight_kg=float(evaluation.weight_kg) if evaluation.weight_kg is not None else None,
        height_cm=float(evaluation.height_cm) if evaluation.height_cm is not None else None,
        pregnancy=screen.Pregnancy(evaluation.pregnancy),
        diagnoses=tuple(d["code"] for d in evaluation.referral.diagnoses),
        ongoing_therapy=evaluation.ongoing_therapy,
        suicide_screen_positive=bool(facts and facts.last_screen_positive),
        at_home=course.delivery == "at_home",
    )


def findings_digest(findings: list[screen.Finding]) -> str:
    """A fingerprint of the findings as shown, so the decision can prove it saw these."""
    payload = json.dumps([f.as_dict() for f in findings], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def evaluation_findings(evaluation: MedicalEvaluation, *, on_date: date) -> list[screen.Finding]:
    return screen.eligibility_screen(evaluation_input(evaluation, on_date=on_date))


# A typed signature is an attestation: it must be the signer's name as registered on the
# account. Only case, spacing and a leading courtesy title may differ ("Sam Whitfield" signs
# for "Dr. Sam Whitfield"); any other spelling is refused, and the refusal names the
# expected form so the signer is never left guessing (issue 17).
SIGNATURE_TITLES = frozenset({"dr", "doctor", "mr", "mrs", "ms", "mx", "prof", "professor"})


def _signature_words(name: str) -> list[str]:
    words = " ".join((name or "").split()).casefold().split(" ")
    while len(words) > 1 and words[0].rstrip(".") in SIGNATURE_TITLES:
        words = words[1:]
    return [w for w in words if w]


def signature_matches(typed: str, registered: str) -> bool:
    """The typed signature is the registered full name, ignoring case, extra spaces and a
    leading title such as "Dr."."""
    expected = _signature_words(registered)
    return bool(expected) and _signature_words(typed) == expected


def signature_error(registered: str) -> str:
    """The refusal for a signature that does not match, naming the expected form."""
    return (
        f"Type your full name as registered on your account: “{registered}”. "
        "Capital letters, spacing and a title such as “Dr.” may differ; nothing else."
    )


@transaction.atomic
def eligibility_decide(
    *,
    actor: Membership,
    evaluation_id: int,
    decision: str,
    reason: str,
    signature: str,
    findings_digest_seen: str,
    acknowledge_exclusions: bool = False,
    medications_reviewed: Iterable[str] = (),
    clearance_valid_days: int | None = None,
    now: datetime | None = None,
) -> EligibilityDecision:
    """The prescriber decides and signs. The findings are screened again; if they differ
    from those the prescriber saw, nothing is decided. Eligible needs a complete evaluation,
    when exclusions were found an explicit acknowledgement, and a tick for each medicine not in
    the catalogue (`medications_reviewed`, the names as the findings give them; decision 0028).
    The ticks are stored with the decision, whatever it is."""
    now = now or timezone.now()
    evaluation = _evaluation_for(actor, evaluation_id)
    if evaluation.prescriber_id != actor.pk:
        raise PermissionDenied("Only the evaluating prescriber decides.")
    if evaluation.referral.status not in (ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED):
        raise GateBlocked(
            [course_rules.Reason("evaluation.closed", "A decision is already signed.")]
        )
    reason, signature = _decision_inputs(
        actor, decision=decision, reason=reason, signature=signature,
        clearance_valid_days=clearance_valid_days,
    )  # fmt: skip
    course = with_facts(Course.objects.filter(pk=evaluation.course_id)).get()
    evaluation.course = course
    findings = evaluation_findings(
        evaluation, on_date=clock.clinical_date(course.organisation, now)
    )
    digest = findings_digest(findings)
    if digest != findings_digest_seen:
        raise DomainError(
            "The findings changed since the page was loaded. Review them again, then sign.",
            code="evaluation.findings_changed",
        )
    review = _medications_review(
        findings, medications_reviewed, eligible=decision == Decision.ELIGIBLE
    )
    if decision == Decision.ELIGIBLE:
        blocking = screen.eligible_reasons(
            findings, exclusions_acknowledged=bool(acknowledge_exclusions)
        )
        if blocking:
            raise GateBlocked(blocking)
    record = EligibilityDecision(
        organisation=evaluation.organisation, evaluation=evaluation, course_id=course.pk,
        decision=decision, reason=reason, findings=[f.as_dict() for f in findings],
        findings_digest=digest, evaluation_snapshot=_evaluation_snapshot(evaluation),
        exclusions_acknowledged=bool(acknowledge_exclusions) and decision == Decision.ELIGIBLE,
        medications_reviewed=[
            {"medication": name, "reviewed_by": actor.user_id, "reviewed_at": now.isoformat()}
            for name in review.confirmed
        ],
        clearance_valid_days=clearance_valid_days if decision == Decision.ELIGIBLE else None,
        signature=signature, decided_by=actor.user, decided_by_membership=actor, decided_at=now,
    )  # fmt: skip
    record.full_clean()
    record.save()
    _decision_effects(actor, record, course, evaluation, now=now)
    return record


def _decision_inputs(
    actor, *, decision, reason, signature, clearance_valid_days
) -> tuple[str, str]:
    """The decision's form checked, every field at fault named at once; returns the reason
    and the signature as stored."""
    errors: dict[str, str] = {}
    if decision not in Decision.values:
        errors["decision"] = "Choose eligible, not eligible or needs more information."
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Write the reason for the decision."
    signature = " ".join((signature or "").split())
    if not signature_matches(signature, actor.user.full_name):
        errors["signature"] = signature_error(actor.user.full_name)
    most = course_services.MAX_CLEARANCE_DAYS
    if decision == Decision.ELIGIBLE and not (
        clearance_valid_days and 1 <= clearance_valid_days <= most
    ):
        errors["clearance_valid_days"] = f"Enter how many days the clearance holds (1 to {most})."
    if errors:
        raise ValidationError(errors)
    return reason, signature


def _medications_review(findings, medications_reviewed, *, eligible: bool) -> screen.ReviewCheck:
    """A medicine the catalogue does not know was screened for nothing: only a tick per
    medicine clears it, never the reason's free text (decision 0028)."""
    review = screen.review_check(findings, medications_reviewed or ())
    if review.unknown:
        raise ValidationError(
            {
                "medications_reviewed": "Only a medicine listed as not in the catalogue can be "
                "confirmed as reviewed. Reload the evaluation and review it again."
            }
        )
    if eligible and review.missing:
        count = len(review.missing)
        raise ValidationError(
            {
                "medications_reviewed": f"{count} medicine{'s' if count > 1 else ''} not in the "
                f"catalogue {'are' if count > 1 else 'is'} not confirmed as reviewed by hand. "
                "Tick each one to decide eligible."
            }
        )
    return review


def _evaluation_snapshot(evaluation) -> dict:
    """The evaluation as the prescriber signed on it, kept with the decision."""
    snapshot = {
        field: str(v) if isinstance(v, date | Decimal) else v
        for field in EVALUATION_FIELDS
        for v in [getattr(evaluation, field)]
    }
    snapshot.update(
        medications=evaluation.medications, checklist=evaluation.checklist,
        diagnoses=evaluation.referral.diagnoses, version=evaluation.version,
    )  # fmt: skip
    return snapshot


def _decision_effects(actor, record, course, evaluation, *, now) -> None:
    """The signed decision moves the course (eligible or not eligible; "needs more
    information" leaves it in evaluation), closes the referral, is audited and tells the
    course's therapist."""
    decision = record.decision
    if decision == Decision.ELIGIBLE:
        course_services.course_workflow_step(
            actor=actor, course_id=course.pk, action=course_rules.Action.DECIDE_ELIGIBLE.value,
            reason=record.reason, clearance_on=clock.clinical_date(course.organisation, now),
            clearance_valid_days=record.clearance_valid_days, now=now,
        )  # fmt: skip
    elif decision == Decision.NOT_ELIGIBLE:
        course_services.course_workflow_step(
            actor=actor, course_id=course.pk,
            action=course_rules.Action.DECIDE_NOT_ELIGIBLE.value, reason=record.reason, now=now,
        )  # fmt: skip
    if decision != Decision.NEEDS_INFO:
        _set_status(evaluation.referral, ReferralStatus.EVALUATED, actor=actor, now=now)
    audit_record(
        actor=actor, action=f"eligibility.{decision}", target=record,
        client_id=course.client_id,
    )  # fmt: skip
    _notify_in_app(
        Membership.objects.filter(pk=course.therapist_id), "evaluation_decided",
        "courses:detail", course.pk, actor,
    )  # fmt: skip


def _notify_in_app(recipients, kind: str, route: str, object_id: int, actor) -> None:
    """The other side of the course learns in the app (decision 0050); e-mail is unchanged."""
    from kapflow.notifications.services import notify

    notify(
        recipients=recipients, kind=kind, route=route, object_id=object_id,
        exclude_user_id=actor.user_id,
    )  # fmt: skip


# ---- prescriptions -------------------------------------------------------------------------


def _prescription_for(actor: Membership, prescription_id: int) -> Prescription:
    prescription = (
        Prescription.objects.select_for_update(of=("self",))
        .select_related("course__client")
        .filter(pk=prescription_id, course__in=policy.courses_queryset(actor))
        .first()
    )
    if prescription is None:
        raise audit_not_found(
            actor=actor, model=Prescription, object_id=prescription_id,
            message="Prescription not found.",
        )  # fmt: skip
    return prescription


def _prescribing_course(actor: Membership, course_id: int, refusal: str) -> Course:
    """The course of a prescription the actor reached, if the actor is its prescriber."""
    course = Course.objects.prefetch_related("client__care_team").get(pk=course_id)
    if not policy.can_prescribe(actor, course):
        raise PermissionDenied(refusal)
    return course


def _refills_close(*, status: str, by: Membership, now: datetime, note: str, **scope) -> None:
    """Resolve the open refill requests of a course or a prescription (fill, new
    prescription, cancellation)."""
    RefillRequest.objects.filter(status=RefillStatus.OPEN, **scope).update(
        status=status, resolved_at=now, resolved_by=by.user, note=note
    )


@transaction.atomic
def prescription_issue(
    *,
    actor: Membership,
    course_id: int,
    product: str,
    strength_mg: Decimal,
    dose_mg: Decimal,
    quantity: int,
    refills: int,
    pharmacy_name: str,
    dea_number: str,
    written_on: date | None = None,
    frequency: str | None = None,
    pharmacy_phone: str = "",
    pharmacy_address: str = "",
    instructions: str = "",
    confirm_reason: str = "",
    now: datetime | None = None,
) -> Prescription:
    """The course's prescriber writes a ketamine prescription. Schedule III limits and the
    course's pathway and delivery are hard reasons; an unusual dose needs a written
    confirmation."""
    now = now or timezone.now()
    course = _course_for(actor, course_id)
    if not policy.can_prescribe(actor, course):
        raise PermissionDenied("Prescribing is for the course's prescriber.")
    reasons = course_rules.prescribing_reasons(course_facts(course))
    _prescription_inputs_check(dea_number=dea_number, pharmacy_name=pharmacy_name, product=product)
    today = clock.clinical_date(course.organisation, now)
    written_on = _written_on_check(course, written_on or today, now=now)
    frequency = frequency or (
        rx.Frequency.DAILY.value if course.pathway == "low_dose" else rx.Frequency.PER_SESSION.value
    )
    if frequency not in rx.Frequency.__members__.values():
        raise ValidationError({"frequency": "Choose per session or daily."})
    draft = rx.PrescriptionDraft(
        product=product, frequency=rx.Frequency(frequency), strength_mg=float(strength_mg),
        dose_mg=float(dose_mg), quantity=quantity, refills=refills, written_on=written_on,
        pathway=course.pathway, at_home=course.delivery == "at_home",
    )  # fmt: skip
    hard, soft = course_rules.split_hard(reasons + rx.prescription_reasons(draft, today=today))
    confirm_reason = (confirm_reason or "").strip()
    if hard or (soft and not confirm_reason):
        raise GateBlocked(hard + soft)
    item = rx.PRODUCTS[product]
    prescription = Prescription(
        organisation=course.organisation, course=course, prescriber=actor, product=product,
        drug=item.drug, rxcui=item.rxcui, form=item.form, route=item.route.value,
        strength_mg=strength_mg, dose_mg=dose_mg, frequency=frequency, pathway=course.pathway,
        quantity=quantity, refills=refills, pharmacy_name=pharmacy_name.strip(),
        pharmacy_phone=pharmacy_phone.strip(), pharmacy_address=pharmacy_address.strip(),
        instructions=instructions.strip(), dea_number=dea_number.strip().upper(),
        written_on=written_on, expires_on=rx.expires_on(written_on),
        warnings_confirmed=[r.code for r in soft], confirm_reason=confirm_reason if soft else "",
        created_at=now,
    )  # fmt: skip
    prescription.full_clean()
    prescription.save()
    _prescription_issued(actor, prescription, soft=soft, now=now)
    return prescription


def _prescription_inputs_check(*, dea_number, pharmacy_name, product) -> None:
    errors: dict[str, str] = {}
    if not rx.dea_number_valid(dea_number):
        errors["dea_number"] = "Enter a valid DEA registration number (2 letters, 7 digits)."
    if not (pharmacy_name or "").strip():
        errors["pharmacy_name"] = "Name the pharmacy."
    if product not in rx.PRODUCTS:
        errors["product"] = "Choose a product from the list."
    if errors:
        raise ValidationError(errors)


def _written_on_check(course, written_on: date, *, now) -> date:
    """A prescription follows the eligibility decision (its clearance date), within the
    course; with no clearance recorded, the course's opening bounds it."""
    starts = (start_of(course.organisation, course.opened_at, "the course opened"),)
    if course.clearance_on is not None:
        starts += (Start(course.clearance_on, "the eligibility decision"),)
    check_date(
        "written_on", written_on, organisation=course.organisation, kind=DateKind.HAPPENED,
        born=course.client.date_of_birth, starts=starts, now=now,
    )  # fmt: skip
    return written_on


def _prescription_issued(actor, prescription, *, soft, now) -> None:
    """On the course's timeline (with any warning confirmed), any open refill request
    answered, the facts refreshed, audited, and the therapist told."""
    course = prescription.course
    CourseEvent.objects.create(
        organisation=course.organisation, course=course, kind=EventKind.PRESCRIPTION,
        occurred_at=now, actor=actor.user, actor_membership=actor,
        reason=prescription.confirm_reason, overridden=[r.code for r in soft],
        data={"prescription_id": prescription.pk, "product": prescription.product,
              "dose_mg": str(prescription.dose_mg), "quantity": prescription.quantity,
              "refills": prescription.refills},
    )  # fmt: skip
    # A new prescription answers any open refill request of the course.
    _refills_close(course=course, status=RefillStatus.FULFILLED, by=actor, now=now,
                   note="New prescription written.")  # fmt: skip
    course_services.course_facts_refresh(course_id=course.pk)
    audit_record(
        actor=actor, action="prescription.issue", target=prescription, client_id=course.client_id
    )
    _notify_in_app(
        Membership.objects.filter(pk=course.therapist_id), "prescription_issued",
        "prescriptions:prescription", prescription.pk, actor,
    )  # fmt: skip


@transaction.atomic
def prescription_cancel(
    *, actor: Membership, prescription_id: int, reason: str, now: datetime | None = None
) -> Prescription:
    now = now or timezone.now()
    prescription = _prescription_for(actor, prescription_id)
    course = _prescribing_course(
        actor, prescription.course_id, "Only the course's prescriber cancels a prescription."
    )
    if prescription.status != PrescriptionStatus.ACTIVE:
        raise GateBlocked(
            [course_rules.Reason("prescription.not_active", "It is already cancelled.")]
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the prescription is cancelled."})
    prescription.status = PrescriptionStatus.CANCELLED
    prescription.cancelled_at = now
    prescription.cancelled_by = actor.user
    prescription.cancel_reason = reason
    prescription.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason"])
    _refills_close(prescription=prescription, status=RefillStatus.DECLINED, by=actor, now=now,
                   note="Prescription cancelled.")  # fmt: skip
    course_services.course_facts_refresh(course_id=course.pk)
    audit_record(
        actor=actor, action="prescription.cancel", target=prescription,
        client_id=course.client_id, changed_fields=["status"],
    )  # fmt: skip
    return prescription


def _handover_errors(
    handover: str,
    shipped_on: date | None,
    tracking: str,
    received_on: date | None,
    dispensed_on: date | None,
) -> dict[str, str]:
    """Field errors for how a fill reached the client. A shipped fill is received after it
    ships; a fill picked up has no shipping date or tracking, only the day it was collected."""
    errors: dict[str, str] = {}
    if handover not in Handover.values:
        errors["handover"] = "Choose shipped or picked up."
    elif handover == Handover.PICKUP:
        if shipped_on is not None:
            errors["shipped_on"] = (
                "A fill picked up is not shipped: leave the shipping date empty, or choose shipped."
            )
        if tracking:
            errors["tracking"] = "A fill picked up has no tracking number."
        if received_on and dispensed_on and received_on < dispensed_on:
            errors["received_on"] = "The pick-up cannot come before dispensing."
    else:
        if shipped_on and dispensed_on and shipped_on < dispensed_on:
            errors["shipped_on"] = "Shipping cannot come before dispensing."
        if received_on and not shipped_on:
            errors["received_on"] = (
                "A shipped fill is received after it ships: enter the shipping date first, or "
                "choose picked up if the client collected it."
            )
        elif received_on and shipped_on and received_on < shipped_on:
            errors["received_on"] = "Receipt cannot come before shipping."
    return errors


@transaction.atomic
def dispense_record(
    *,
    actor: Membership,
    prescription_id: int,
    quantity: int,
    dispensed_on: date,
    shipped_on: date | None = None,
    tracking: str = "",
    received_on: date | None = None,
    handover: str = Handover.SHIPPED,
    now: datetime | None = None,
) -> Dispense:
    """Record a fill (the first, or a refill) and how it reached the client, as the pharmacy
    reports it: shipped (a shipping date before any receipt) or picked up (no shipping;
    the date received is the day it was collected)."""
    now = now or timezone.now()
    prescription = _prescription_for(actor, prescription_id)
    course = _prescribing_course(
        actor, prescription.course_id, "Fills are recorded by the course's prescriber."
    )
    reasons = []
    _, _, fills = supply(prescription)
    if prescription.status != PrescriptionStatus.ACTIVE:
        reasons.append(course_rules.Reason("prescription.not_active", "It is cancelled."))
    if fills > prescription.refills:
        reasons.append(
            course_rules.Reason(
                "prescription.no_refills_left",
                "Every fill this prescription allows is used; write a new prescription.",
            )
        )
    errors: dict[str, str] = {}
    if dispensed_on is None:
        errors["dispensed_on"] = "Enter the date dispensed."
    elif dispensed_on > clock.clinical_date(prescription.organisation, now):
        errors["dispensed_on"] = "The date dispensed cannot be in the future."
    elif dispensed_on < prescription.written_on:
        errors["dispensed_on"] = "A fill cannot come before the prescription was written."
    elif dispensed_on > prescription.expires_on:
        reasons.append(
            course_rules.Reason(
                "prescription.expired",
                "A Schedule III prescription cannot be filled more than 6 months after it "
                "was written.",
            )
        )
    if not quantity or not 1 <= quantity <= prescription.quantity:
        errors["quantity"] = f"Enter 1 to {prescription.quantity} doses (the quantity per fill)."
    tracking = (tracking or "").strip()
    errors.update(_handover_errors(handover, shipped_on, tracking, received_on, dispensed_on))
    if errors:
        raise ValidationError(errors)
    # Shipping and receipt happened (not after today) and follow the fill; the fill's own
    # date is bounded above by today and below by the prescription's (itself bounded).
    check_date(
        "shipped_on", shipped_on, organisation=prescription.organisation,
        kind=DateKind.HAPPENED, starts=(Start(dispensed_on, "the fill was dispensed"),), now=now,
    )  # fmt: skip
    check_date(
        "received_on", received_on, organisation=prescription.organisation,
        kind=DateKind.HAPPENED, starts=(Start(dispensed_on, "the fill was dispensed"),), now=now,
    )  # fmt: skip
    if reasons:
        raise GateBlocked(reasons)
    dispense = Dispense(
        organisation=prescription.organisation, prescription=prescription, fill_number=fills,
        quantity=quantity, dispensed_on=dispensed_on, handover=handover,
        shipped_on=shipped_on, tracking=tracking, received_on=received_on,
        recorded_by=actor.user, recorded_at=now,
    )  # fmt: skip
    dispense.full_clean()
    dispense.save()
    _refills_close(prescription=prescription, status=RefillStatus.FULFILLED, by=actor, now=now,
                   note=f"Fill {fills} recorded.")  # fmt: skip
    course_services.course_facts_refresh(course_id=course.pk)
    audit_record(
        actor=actor, action="prescription.dispense", target=dispense,
        client_id=course.client_id,
    )  # fmt: skip
    return dispense


@transaction.atomic
def dispense_ship(
    *,
    actor: Membership,
    dispense_id: int,
    shipped_on: date | None,
    tracking: str = "",
    received_on: date | None = None,
    now: datetime | None = None,
) -> Dispense:
    """Record a fill's shipping and its receipt by the client, as the pharmacy reports them."""
    now = now or timezone.now()
    dispense = (
        Dispense.objects.select_for_update(of=("self",))
        .select_related("prescription")
        .filter(pk=dispense_id, prescription__course__in=policy.courses_queryset(actor))
        .first()
    )
    if dispense is None:
        raise audit_not_found(
            actor=actor, model=Dispense, object_id=dispense_id, message="Fill not found."
        )
    course = _prescribing_course(
        actor, dispense.prescription.course_id, "Shipping is recorded by the course's prescriber."
    )
    today = clock.clinical_date(course.organisation, now)
    tracking = (tracking or "").strip()
    errors: dict[str, str] = {}
    if dispense.handover == Handover.PICKUP:
        # Nothing ships: the only date is the day the client collected the fill.
        if received_on is None:
            errors["received_on"] = "Enter the date the client picked the fill up."
        errors.update(
            _handover_errors(Handover.PICKUP, shipped_on, tracking, received_on,
                             dispense.dispensed_on)
        )  # fmt: skip
    elif shipped_on is None:
        errors["shipped_on"] = "Enter the date shipped."
    elif shipped_on < dispense.dispensed_on:
        errors["shipped_on"] = "Shipping cannot come before dispensing."
    elif shipped_on > today:
        errors["shipped_on"] = "The shipping date cannot be in the future."
    if received_on is not None and shipped_on is not None and received_on < shipped_on:
        errors["received_on"] = "Receipt cannot come before shipping."
    elif received_on is not None and received_on > today:
        errors["received_on"] = "The date received cannot be in the future."
    if errors:
        raise ValidationError(errors)
    changed = [
        field
        for field, value in (
            ("shipped_on", shipped_on), ("tracking", tracking), ("received_on", received_on),
        )
        if getattr(dispense, field) != value
    ]  # fmt: skip
    dispense.shipped_on = shipped_on
    dispense.tracking = tracking
    dispense.received_on = received_on
    dispense.full_clean()
    dispense.save(update_fields=["shipped_on", "tracking", "received_on"])
    audit_record(
        actor=actor, action="prescription.ship", target=dispense, client_id=course.client_id,
        changed_fields=changed,
    )  # fmt: skip
    return dispense


@transaction.atomic
def dose_authorise(
    *,
    actor: Membership,
    prescription_id: int,
    amount_mg: Decimal,
    reason: str,
    now: datetime | None = None,
) -> DoseAuthorisation:
    """The course's prescriber authorises more than the prescription's per-session amount
    for the course's next dosing session (boosters included), with a written reason
    (decision 0030). Refused for a cancelled prescription or an amount that is not above
    the prescription's."""
    now = now or clock.now()
    prescription = _prescription_for(actor, prescription_id)
    course = _prescribing_course(
        actor, prescription.course_id, "Only the course's prescriber authorises a dose."
    )
    if prescription.status != PrescriptionStatus.ACTIVE:
        raise GateBlocked(
            [course_rules.Reason("prescription.not_active", "The prescription is cancelled.")]
        )
    errors = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Say why this session may have more than prescribed."
    try:
        amount_mg = Decimal(str(amount_mg))
        if not amount_mg.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors["amount_mg"] = "Enter the most the session may have, in mg."
    else:
        if amount_mg <= prescription.dose_mg:
            errors["amount_mg"] = (
                f"The prescription already allows {format(prescription.dose_mg.normalize(), 'f')}"
                " mg per session; authorise only a higher amount."
            )
    if errors:
        raise ValidationError(errors)
    authorisation = DoseAuthorisation(
        organisation=prescription.organisation, course=course, prescription=prescription,
        amount_mg=amount_mg, reason=reason, authorised_by=actor.user,
        authorised_by_membership=actor, authorised_at=now,
    )  # fmt: skip
    authorisation.full_clean()
    authorisation.save()
    audit_record(
        actor=actor, action="dose.authorise", target=authorisation, client_id=course.client_id
    )
    return authorisation


@transaction.atomic
def dose_log(
    *,
    actor: Membership,
    course_id: int,
    taken_on: date,
    amount_mg: Decimal | None = None,
    note: str = "",
    now: datetime | None = None,
) -> DoseUse:
    """The client logs a daily low dose in the portal (psycholytic pathway only)."""
    now = now or timezone.now()
    course = (
        Course.objects.select_for_update()
        .filter(pk=course_id, client__user_id=actor.user_id)
        .first()
        if policy.is_client_actor(actor)
        else None
    )
    if course is None:
        raise audit_not_found(
            actor=actor, model=Course, object_id=course_id, message="Course not found."
        )
    reasons = []
    if course.pathway != "low_dose":
        reasons.append(
            course_rules.Reason("dose_log.not_low_dose", "Daily logs are for the low-dose plan.")
        )
    if course.stage not in course_rules.DOSING_STAGES:
        reasons.append(
            course_rules.Reason("stage.not_active", "Your course is not at the dosing stage.")
        )
    if reasons:
        raise GateBlocked(reasons)
    today = clock.clinical_date(course.organisation, now)
    if taken_on is None or taken_on > today or (today - taken_on).days > 7:
        raise ValidationError({"taken_on": "Log a dose for today or the last 7 days."})
    # Within the last week, and not before the course opened (a dose on a course that has
    # just reached dosing cannot predate it).
    check_date(
        "taken_on", taken_on, organisation=course.organisation, kind=DateKind.HAPPENED,
        born=course.client.date_of_birth, now=now,
        starts=(start_of(course.organisation, course.opened_at, "the course opened"),),
    )  # fmt: skip
    if amount_mg is not None and not Decimal("0") < amount_mg <= Decimal("1000"):
        raise ValidationError({"amount_mg": "Enter the amount in mg (1 to 1000)."})
    if DoseUse.objects.filter(
        course=course, source=DoseSource.SELF_LOG, taken_on=taken_on
    ).exists():
        raise ValidationError({"taken_on": "A dose is already logged for that day."})
    use = use_dose(
        course=course, by_user=actor.user, source=DoseSource.SELF_LOG, now=now,
        taken_on=taken_on, amount_mg=amount_mg, note=(note or "").strip(),
    )  # fmt: skip
    audit_record(actor=actor, action="dose.log", target=use, client_id=course.client_id)
    return use


@transaction.atomic
def refill_request_decline(
    *, actor: Membership, request_id: int, note: str, now: datetime | None = None
) -> RefillRequest:
    now = now or timezone.now()
    request = (
        RefillRequest.objects.select_for_update(of=("self",))
        .filter(pk=request_id, course__in=policy.courses_queryset(actor))
        .first()
    )
    if request is None:
        raise audit_not_found(
            actor=actor, model=RefillRequest, object_id=request_id,
            message="Refill request not found.",
        )  # fmt: skip
    course = _prescribing_course(
        actor, request.course_id, "Refill requests are for the course's prescriber."
    )
    if request.status != RefillStatus.OPEN:
        raise GateBlocked([course_rules.Reason("refill.closed", "It is already resolved.")])
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say why the refill is declined."})
    request.status = RefillStatus.DECLINED
    request.resolved_at = now
    request.resolved_by = actor.user
    request.note = note
    request.save(update_fields=["status", "resolved_at", "resolved_by", "note"])
    audit_record(actor=actor, action="refill.decline", target=request, client_id=course.client_id)
    return request


FOLLOWUP_PLANS = {
    "continue": "Continue as prescribed",
    "adjust": "Adjust the dose",
    "pause": "Pause dosing",
    "stop": "Stop treatment",
}


def followup_record(
    *,
    actor: Membership,
    course_id: int,
    plan: str,
    note: str,
    bp_systolic: int | None = None,
    bp_diastolic: int | None = None,
    heart_rate: int | None = None,
    occurred_at: datetime | None = None,
) -> CourseEvent:
    """The prescriber's medical follow-up (after the second dosing, then at least every 90
    days): it clears `followup.overdue` on the dosing gate."""
    if plan not in FOLLOWUP_PLANS:
        raise ValidationError({"plan": "Choose the plan after this follow-up."})
    if not (note or "").strip():
        raise ValidationError({"note": "Summarise the follow-up."})
    if occurred_at is not None:
        occurred_at = _storable(occurred_at, "occurred_at")
    return course_services.course_record(
        actor=actor, course_id=course_id, kind=EventKind.FOLLOWUP.value, note=note,
        occurred_at=occurred_at,
        data={"plan": plan, "bp_systolic": bp_systolic, "bp_diastolic": bp_diastolic,
              "heart_rate": heart_rate},
    )  # fmt: skip


__all__ = [
    "dispense_record",
    "dose_authorise",
    "dose_log",
    "eligibility_decide",
    "evaluation_save",
    "followup_record",
    "prescription_cancel",
    "prescription_issue",
    "referral_accept",
    "referral_close",
    "referral_schedule",
    "referral_send",
    "refill_request_decline",
]
