"""Referral, evaluation, eligibility and prescriptions over JSON, under /api/v1/prescribing.

Same selectors and services as the pages. Refusals propagate: GateBlocked is a 409 listing
every reason, a stale evaluation or changed findings a 409 with its code, bad input a 422
naming the field. Searches of the ICD-10-CM code set are posted, like client searches.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from kapflow import policy
from kapflow.clinical import prescribing as rx
from kapflow.clinical.eligibility import CHECKLIST, Pregnancy, medications_to_review
from kapflow.clinical.icd10 import diagnosis_search
from kapflow.clinical.medications import medication_search
from kapflow.core.api import ERRORS, ErrorsOut, staff_actor
from kapflow.courses.api import EventOut, _event_out
from kapflow.prescriptions import selectors, services
from kapflow.prescriptions.models import Decision, EvaluationModality, ReferralStatus

router = Router(tags=["prescribing"])

DecisionName = Literal[tuple(Decision.values)]  # type: ignore[valid-type]
ProductName = Literal[tuple(rx.PRODUCTS)]  # type: ignore[valid-type]
FrequencyName = Literal[tuple(f.value for f in rx.Frequency)]  # type: ignore[valid-type]
PregnancyName = Literal[tuple(p.value for p in Pregnancy)]  # type: ignore[valid-type]
ModalityName = Literal[tuple(EvaluationModality.values)]  # type: ignore[valid-type]
ReferralFilter = Literal[("open", "all", *ReferralStatus.values)]  # type: ignore[valid-type]
PlanName = Literal[tuple(services.FOLLOWUP_PLANS)]  # type: ignore[valid-type]


# ---- schemas -------------------------------------------------------------------------------


class DiagnosisOut(Schema):
    code: str
    description: str


class ReferralIn(Schema):
    course_id: int
    prescriber_id: int
    reason: str = Field(min_length=1, max_length=5000)
    diagnoses: list[str] = Field(min_length=1, max_length=12, description="ICD-10-CM codes.")
    medications: str = Field("", max_length=5000)
    history: str = Field("", max_length=10000)
    share_scores: bool = False
    consent_to_share: bool = Field(description="Must be true: the client consented.")
    consent_note: str = Field(max_length=300, description="How consent was given.")


class ReferralOut(Schema):
    id: int
    course_id: int
    client_id: int
    practice: str
    partner: str
    prescriber_id: int
    prescriber_name: str
    status: str
    reason: str
    diagnoses: list[DiagnosisOut]
    medications: str
    history: str
    share_scores: bool
    scores: list[dict]
    consent_note: str
    sent_at: datetime
    status_changed_at: datetime
    scheduled_for: datetime | None
    status_reason: str


class ReferralPage(Schema):
    count: int
    page: int
    pages: int
    results: list[ReferralOut]


class ReferralListParams(Schema):
    status: ReferralFilter = "open"
    page: int = Field(1, ge=1, le=100000)


class ScheduleIn(Schema):
    scheduled_for: AwareDatetime


class ReasonIn(Schema):
    reason: str = Field(min_length=1, max_length=5000)


class MedicationIn(Schema):
    name: str = Field(max_length=120)
    rxcui: str = Field("", max_length=20)
    dose: str = Field("", max_length=80)
    daily_dose_mg: float | None = Field(None, gt=0, le=10000)


class EvaluationIn(Schema):
    version: int = Field(ge=1, description="The version you read; a stale one is a 409.")
    evaluated_on: date
    modality: ModalityName = "video"
    history: str = Field("", max_length=20000)
    allergies: str = Field("", max_length=2000)
    substance_use: str = Field("", max_length=5000)
    bp_systolic: int | None = Field(None, ge=60, le=260)
    bp_diastolic: int | None = Field(None, ge=30, le=160)
    heart_rate: int | None = Field(None, ge=25, le=250)
    weight_kg: Decimal | None = Field(None, ge=20, le=400, decimal_places=1)
    height_cm: Decimal | None = Field(None, ge=100, le=250, decimal_places=1)
    pregnancy: PregnancyName = "unknown"
    ongoing_therapy: bool | None = None
    medications: list[MedicationIn] = Field(default_factory=list, max_length=30)
    checklist: dict[str, bool | None] = Field(
        default_factory=dict, description="Checklist item code -> yes/no (null: unanswered)."
    )


class FindingOut(Schema):
    code: str
    severity: str
    message: str
    source: str
    medication: str = Field(
        "", description="The medicine as typed, on a `medication.unrecognised` finding."
    )


class MedicationReviewedOut(Schema):
    medication: str
    reviewed_by: int = Field(description="The user who signed the decision.")
    reviewed_at: datetime


class DecisionOut(Schema):
    id: int
    decision: str
    reason: str
    findings: list[FindingOut]
    exclusions_acknowledged: bool
    medications_reviewed: list[MedicationReviewedOut]
    clearance_valid_days: int | None
    signature: str
    decided_by: str
    decided_at: datetime


class EvaluationOut(Schema):
    id: int
    referral_id: int
    version: int
    editable: bool
    evaluated_on: date
    modality: str
    history: str
    allergies: str
    substance_use: str
    bp_systolic: int | None
    bp_diastolic: int | None
    heart_rate: int | None
    weight_kg: Decimal | None
    height_cm: Decimal | None
    pregnancy: str
    ongoing_therapy: bool | None
    medications: list[dict]
    checklist: dict
    checklist_items: list[dict]
    findings: list[FindingOut]
    findings_digest: str = Field(description="Send it back with the decision.")
    medications_to_review: list[str] = Field(
        description="Medicines not in the catalogue: an eligible decision must list each one "
        "in `medications_reviewed`."
    )
    decisions: list[DecisionOut]


class DecisionIn(Schema):
    decision: DecisionName
    reason: str = Field(min_length=1, max_length=5000)
    signature: str = Field(min_length=1, max_length=200, description="Your full name.")
    findings_digest: str = Field(min_length=64, max_length=64)
    acknowledge_exclusions: bool = False
    medications_reviewed: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=30,
        description="Each medicine from `medications_to_review` you reviewed by hand. Eligible "
        "needs every one (else 422 naming this field); the list is kept with the decision.",
    )
    clearance_valid_days: int | None = Field(None, ge=1, le=730)


class PrescriptionIn(Schema):
    product: ProductName
    frequency: FrequencyName | None = None
    strength_mg: Decimal = Field(ge=1, le=1000, decimal_places=2)
    dose_mg: Decimal = Field(ge=1, le=1000, decimal_places=2)
    quantity: int = Field(ge=1, le=120)
    refills: int = Field(ge=0, le=99)
    pharmacy_name: str = Field(min_length=1, max_length=200)
    pharmacy_phone: str = Field("", max_length=30)
    pharmacy_address: str = Field("", max_length=300)
    instructions: str = Field("", max_length=5000)
    dea_number: str = Field(min_length=9, max_length=9)
    written_on: date | None = None
    confirm_reason: str = Field("", max_length=2000)


class DispenseOut(Schema):
    fill_number: int
    quantity: int
    dispensed_on: date
    handover: Literal["shipped", "pickup"]
    shipped_on: date | None
    tracking: str
    received_on: date | None


class PrescriptionOut(Schema):
    id: int
    course_id: int
    status: str
    product: str
    drug: str
    rxcui: str
    form: str
    route: str
    strength_mg: Decimal
    dose_mg: Decimal
    frequency: str
    pathway: str
    quantity: int
    refills: int
    dea_schedule: str
    written_on: date
    expires_on: date
    pharmacy_name: str
    doses_dispensed: int
    doses_used: int
    doses_left: int
    fills_left: int
    dispenses: list[DispenseOut]
    open_refill_request: bool


class DispenseIn(Schema):
    quantity: int = Field(ge=1, le=120)
    dispensed_on: date
    handover: Literal["shipped", "pickup"] = Field(
        "shipped", description="Shipped to the client, or picked up (no shipping date)."
    )
    shipped_on: date | None = None
    tracking: str = Field("", max_length=100)
    received_on: date | None = None


class FollowupIn(Schema):
    plan: PlanName
    note: str = Field(min_length=1, max_length=5000)
    bp_systolic: int | None = Field(None, ge=60, le=260)
    bp_diastolic: int | None = Field(None, ge=30, le=160)
    heart_rate: int | None = Field(None, ge=25, le=250)
    occurred_at: AwareDatetime | None = None


class DiagnosisSearchIn(Schema):
    q: str = Field(min_length=2, max_length=80)


class MedicationOut(Schema):
    rxcui: str
    name: str
    classes: list[str]


class MedicationParams(Schema):
    q: str = Field(min_length=1, max_length=80)


# ---- shaping -------------------------------------------------------------------------------


def _referral_out(referral, actor) -> dict:
    # As on the referral page: once the practice withdraws a referral, its prescriber sees
    # that it was withdrawn and why, no longer what the practice had shared.
    hidden = referral.status == ReferralStatus.WITHDRAWN and policy.is_referral_prescriber(
        actor, referral
    )
    return {
        "id": referral.pk,
        "course_id": referral.course_id,
        "client_id": referral.client_id,
        "practice": referral.organisation.name,
        "partner": referral.partner.name,
        "prescriber_id": referral.prescriber_id,
        "prescriber_name": str(referral.prescriber.user),
        "status": referral.status,
        "reason": "" if hidden else referral.reason,
        "diagnoses": [] if hidden else referral.diagnoses,
        "medications": "" if hidden else referral.medications,
        "history": "" if hidden else referral.history,
        "share_scores": referral.share_scores,
        "scores": [] if hidden else referral.scores,
        "consent_note": referral.consent_note,
        "sent_at": referral.sent_at,
        "status_changed_at": referral.status_changed_at,
        "scheduled_for": referral.scheduled_for,
        "status_reason": referral.status_reason,
    }


def _decision_out(d) -> dict:
    return {
        "id": d.pk,
        "decision": d.decision,
        "reason": d.reason,
        "findings": d.findings,
        "exclusions_acknowledged": d.exclusions_acknowledged,
        "medications_reviewed": d.medications_reviewed,
        "clearance_valid_days": d.clearance_valid_days,
        "signature": d.signature,
        "decided_by": str(d.decided_by),
        "decided_at": d.decided_at,
    }


def _evaluation_out(view) -> dict:
    ev = view.evaluation
    data = {
        f: getattr(ev, f)
        for f in (
            "version", "evaluated_on", "modality", "history", "allergies", "substance_use",
            "bp_systolic", "bp_diastolic", "heart_rate", "weight_kg", "height_cm", "pregnancy",
            "ongoing_therapy", "medications", "checklist",
        )
    }  # fmt: skip
    data.update(
        id=ev.pk,
        referral_id=ev.referral_id,
        editable=view.editable,
        checklist_items=[
            {"code": i.code, "question": i.question, "severity": i.severity.value}
            for i in CHECKLIST
        ],
        findings=[f.as_dict() for f in view.findings],
        findings_digest=view.digest,
        medications_to_review=medications_to_review(view.findings),
        decisions=[_decision_out(d) for d in view.decisions],
    )
    return data


def _prescription_out(view) -> dict:
    p = view.prescription
    data = {
        f: getattr(p, f)
        for f in (
            "course_id", "status", "product", "drug", "rxcui", "form", "route", "strength_mg",
            "dose_mg", "frequency", "pathway", "quantity", "refills", "dea_schedule",
            "written_on", "expires_on", "pharmacy_name",
        )
    }  # fmt: skip
    data.update(
        id=p.pk,
        doses_dispensed=p.dispensed,
        doses_used=p.used,
        doses_left=selectors.doses_left(p),
        fills_left=selectors.fills_left(p),
        dispenses=[
            {
                "fill_number": d.fill_number,
                "quantity": d.quantity,
                "dispensed_on": d.dispensed_on,
                "handover": d.handover,
                "shipped_on": d.shipped_on,
                "tracking": d.tracking,
                "received_on": d.received_on,
            }
            for d in view.dispenses
        ],
        open_refill_request=any(r.status == "open" for r in view.refill_requests),
    )
    return data


# ---- endpoints -----------------------------------------------------------------------------


@router.get(
    "/referrals",
    response={200: ReferralPage, 404: ErrorsOut, 422: ErrorsOut},
    summary="List referrals",
)
def referral_list(request, params: Query[ReferralListParams]):
    """The practice's sent referrals, or the prescriber's received ones, newest first."""
    actor = staff_actor(request)
    page = selectors.referral_list(actor=actor, status=params.status, page=params.page)
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "results": [_referral_out(r, actor) for r in page.object_list],
    }


@router.post("/referrals", response={201: ReferralOut, **ERRORS}, summary="Send a referral")
def referral_send(request, payload: ReferralIn):
    """The course's therapist refers it to a prescriber. The prescriber sees only what is
    sent; the client's consent to share is required."""
    actor = staff_actor(request)
    referral = services.referral_send(actor=actor, **payload.dict())
    return Status(
        201,
        _referral_out(
            selectors.referral_get_for_actor(actor=actor, referral_id=referral.pk, audit_action=""),
            actor,
        ),
    )


@router.get("/referrals/{int:referral_id}", response={200: ReferralOut, 404: ErrorsOut})
def referral_get(request, referral_id: int):
    actor = staff_actor(request)
    return _referral_out(
        selectors.referral_get_for_actor(actor=actor, referral_id=referral_id), actor
    )


def _after(actor, referral_id):
    return _referral_out(
        selectors.referral_get_for_actor(actor=actor, referral_id=referral_id, audit_action=""),
        actor,
    )


@router.post("/referrals/{int:referral_id}/accept", response={200: ReferralOut, **ERRORS})
def referral_accept(request, referral_id: int):
    """The named prescriber accepts; the course moves to medical evaluation."""
    actor = staff_actor(request)
    services.referral_accept(actor=actor, referral_id=referral_id)
    return _after(actor, referral_id)


@router.post("/referrals/{int:referral_id}/schedule", response={200: ReferralOut, **ERRORS})
def referral_schedule(request, referral_id: int, payload: ScheduleIn):
    actor = staff_actor(request)
    services.referral_schedule(
        actor=actor, referral_id=referral_id, scheduled_for=payload.scheduled_for
    )
    return _after(actor, referral_id)


@router.post("/referrals/{int:referral_id}/close", response={200: ReferralOut, **ERRORS})
def referral_close(request, referral_id: int, payload: ReasonIn):
    """Decline (the prescriber) or withdraw (the therapist); the course returns to intake."""
    actor = staff_actor(request)
    services.referral_close(actor=actor, referral_id=referral_id, reason=payload.reason)
    return _after(actor, referral_id)


@router.get("/referrals/{int:referral_id}/evaluation", response={200: EvaluationOut, **ERRORS})
def evaluation_get(request, referral_id: int):
    """The evaluation with every finding screened now and the digest to sign against."""
    actor = staff_actor(request)
    return _evaluation_out(selectors.evaluation_get_for_actor(actor=actor, referral_id=referral_id))


@router.put("/referrals/{int:referral_id}/evaluation", response={200: EvaluationOut, **ERRORS})
def evaluation_put(request, referral_id: int, payload: EvaluationIn):
    """Save the evaluation (the evaluating prescriber). A stale `version` is a 409."""
    actor = staff_actor(request)
    view = selectors.evaluation_get_for_actor(actor=actor, referral_id=referral_id)
    data = payload.dict()
    services.evaluation_save(
        actor=actor,
        evaluation_id=view.evaluation.pk,
        data={f: data[f] for f in services.EVALUATION_FIELDS},
        medications=data["medications"],
        checklist=data["checklist"],
        version=data["version"],
    )
    return _evaluation_out(selectors.evaluation_get_for_actor(actor=actor, referral_id=referral_id))


@router.post("/referrals/{int:referral_id}/decision", response={201: DecisionOut, **ERRORS})
def eligibility_decide(request, referral_id: int, payload: DecisionIn):
    """Sign the decision against the findings digest you were shown. Eligible needs a
    complete evaluation, `acknowledge_exclusions` when any exclusion was found, and every
    medicine of `medications_to_review` in `medications_reviewed` (decision 0028)."""
    actor = staff_actor(request)
    view = selectors.evaluation_get_for_actor(actor=actor, referral_id=referral_id)
    data = payload.dict()
    record = services.eligibility_decide(
        actor=actor,
        evaluation_id=view.evaluation.pk,
        decision=data["decision"],
        reason=data["reason"],
        signature=data["signature"],
        findings_digest_seen=data["findings_digest"],
        acknowledge_exclusions=data["acknowledge_exclusions"],
        medications_reviewed=data["medications_reviewed"],
        clearance_valid_days=data["clearance_valid_days"],
    )
    return Status(201, _decision_out(record))


@router.post(
    "/courses/{int:course_id}/prescriptions",
    response={201: PrescriptionOut, **ERRORS},
    summary="Write a prescription",
)
def prescription_issue(request, course_id: int, payload: PrescriptionIn):
    """The course's prescriber writes a Schedule III ketamine prescription. An unusual dose
    is a 409 with overridable reasons until `confirm_reason` is given."""
    actor = staff_actor(request)
    prescription = services.prescription_issue(actor=actor, course_id=course_id, **payload.dict())
    return Status(
        201,
        _prescription_out(
            selectors.prescription_get_for_actor(actor=actor, prescription_id=prescription.pk)
        ),
    )


@router.get("/prescriptions/{int:prescription_id}", response={200: PrescriptionOut, 404: ErrorsOut})
def prescription_get(request, prescription_id: int):
    """A prescription with its supply: both the practice and the prescriber may read it."""
    actor = staff_actor(request)
    return _prescription_out(
        selectors.prescription_get_for_actor(actor=actor, prescription_id=prescription_id)
    )


@router.post(
    "/prescriptions/{int:prescription_id}/fills", response={201: PrescriptionOut, **ERRORS}
)
def dispense_record(request, prescription_id: int, payload: DispenseIn):
    actor = staff_actor(request)
    services.dispense_record(actor=actor, prescription_id=prescription_id, **payload.dict())
    return Status(
        201,
        _prescription_out(
            selectors.prescription_get_for_actor(actor=actor, prescription_id=prescription_id)
        ),
    )


@router.post(
    "/prescriptions/{int:prescription_id}/cancel", response={200: PrescriptionOut, **ERRORS}
)
def prescription_cancel(request, prescription_id: int, payload: ReasonIn):
    actor = staff_actor(request)
    services.prescription_cancel(
        actor=actor, prescription_id=prescription_id, reason=payload.reason
    )
    return _prescription_out(
        selectors.prescription_get_for_actor(actor=actor, prescription_id=prescription_id)
    )


class DoseAuthoriseIn(Schema):
    amount_mg: Decimal = Field(
        gt=0, le=1000, max_digits=7, decimal_places=2,
        description="The most the course's next session may have, boosters included (mg); "
        "above the prescription's per-session amount.",
    )  # fmt: skip
    reason: str = Field(min_length=1, max_length=5000)


class DoseAuthorisationOut(Schema):
    id: int
    prescription_id: int
    amount_mg: Decimal
    reason: str
    authorised_at: datetime
    used: bool


@router.post(
    "/prescriptions/{int:prescription_id}/dose-authorisations",
    response={201: DoseAuthorisationOut, **ERRORS},
)
def dose_authorise(request, prescription_id: int, payload: DoseAuthoriseIn):
    """The course's prescriber authorises more than the prescription's per-session amount
    for the course's next dosing session (decision 0030). Without it, a dose (or a booster)
    that takes a session above the prescription is refused with `dose.above_prescription`."""
    actor = staff_actor(request)
    a = services.dose_authorise(actor=actor, prescription_id=prescription_id, **payload.dict())
    return Status(
        201,
        {
            "id": a.pk, "prescription_id": a.prescription_id, "amount_mg": a.amount_mg,
            "reason": a.reason, "authorised_at": a.authorised_at, "used": a.dose_use_id is not None,
        },
    )  # fmt: skip


@router.post("/courses/{int:course_id}/followups", response={201: EventOut, **ERRORS})
def followup_record(request, course_id: int, payload: FollowupIn):
    """The prescriber's medical follow-up; it clears `followup.overdue` on the dosing gate."""
    actor = staff_actor(request)
    event = services.followup_record(actor=actor, course_id=course_id, **payload.dict())
    return Status(201, _event_out(event))


@router.post("/diagnoses/search", response={200: list[DiagnosisOut], 404: ErrorsOut})
def diagnoses_search(request, payload: DiagnosisSearchIn):
    """ICD-10-CM codes by code prefix or words (release bundled with simple-icd-10-cm)."""
    staff_actor(request)
    return [
        {"code": d.code, "description": d.description}
        for d in diagnosis_search(payload.q, limit=20)
    ]


@router.get("/medications", response={200: list[MedicationOut], 404: ErrorsOut, 422: ErrorsOut})
def medications_search(request, params: Query[MedicationParams]):
    """The RxNorm-coded medication list the interaction screen knows."""
    staff_actor(request)
    return [
        {"rxcui": m.rxcui, "name": m.name, "classes": sorted(c.value for c in m.classes)}
        for m in medication_search(params.q, limit=20)
    ]
