"""Prescription factories: an active prescription with doses dispensed, for course tests."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.clinical import prescribing as rx
from kapflow.clinical.eligibility import CHECKLIST
from kapflow.core import clock
from kapflow.prescriptions.models import Dispense, Prescription


def prescribe(course, prescriber=None, *, doses=2, refills=0, quantity=None, pathway=None,
              written_on=None, product="ketamine_sl_rdt") -> Prescription:  # fmt: skip
    """An active prescription on `course`, its first fill of `doses` dispensed (none when
    doses is 0)."""
    written_on = written_on or clock.clinical_date(course.organisation) - datetime.timedelta(days=1)
    pathway = pathway or course.pathway
    prescription = Prescription.objects.create(
        organisation=course.organisation, course=course,
        prescriber=prescriber or course.prescriber or course.therapist, product=product,
        drug="ketamine", rxcui=rx.KETAMINE_RXCUI, form="rapid-dissolve tablet",
        route="sublingual", strength_mg=Decimal("100"),
        dose_mg=Decimal("50" if pathway == "low_dose" else "200"),
        frequency="daily" if pathway == "low_dose" else "per_session", pathway=pathway,
        quantity=quantity or max(doses, 1), refills=refills, pharmacy_name="Cedar Compounding",
        dea_number="AB1234563", written_on=written_on, expires_on=rx.expires_on(written_on),
    )  # fmt: skip
    if doses:
        Dispense.objects.create(
            organisation=course.organisation, prescription=prescription, fill_number=0,
            quantity=doses, dispensed_on=written_on,
            recorded_by=prescription.prescriber.user,
        )  # fmt: skip
    return prescription


def refer(course, prescriber, *, share_scores=True, status="accepted", **fields):
    """A referral of `course` to `prescriber` (no workflow steps are run)."""
    from kapflow.prescriptions.models import Referral

    return Referral.objects.create(
        organisation=course.organisation, partner=prescriber.organisation, course=course,
        client=course.client, prescriber=prescriber, status=status,
        reason="Depression that did not respond to two antidepressants.",
        diagnoses=[{"code": "F33.1", "description": "Major depressive disorder, recurrent, "
                    "moderate"}],
        share_scores=share_scores, consent_to_share=True,
        consent_note="Signed release of information on file.", sent_by=course.therapist.user,
        **fields,
    )  # fmt: skip


def shared_scores(client, therapist, prescriber):
    """The client was referred to `prescriber` earlier with scores shared: an evaluated
    referral on a completed course, so tests may still open a new course."""
    from tests.courses.factories import make_course

    course = make_course(client, therapist, prescriber=prescriber, stage="completed",
                         closed_at=timezone.now(), doses=0)  # fmt: skip
    return refer(course, prescriber, status="evaluated")


CLEAN_CHECKLIST = {item.code: False for item in CHECKLIST}
CLEAN_EVALUATION = {
    "bp_systolic": 122, "bp_diastolic": 78, "pregnancy": "not_applicable",
    "ongoing_therapy": True, "checklist": CLEAN_CHECKLIST,
}  # fmt: skip


def evaluate(course, prescriber, *, complete=True, referral=None, **fields):
    """An accepted referral of `course` to `prescriber` with its medical evaluation: complete
    and clean (`complete`), or with nothing recorded yet; `fields` override either."""
    from kapflow.prescriptions.models import MedicalEvaluation

    referral = referral or refer(course, prescriber, status="accepted")
    values = {**(CLEAN_EVALUATION if complete else {}), **fields}
    return MedicalEvaluation.objects.create(
        organisation=course.organisation, referral=referral, course=course,
        prescriber=prescriber, **values,
    )  # fmt: skip


def decide(evaluation, *, decision="eligible", reason="No contraindications found.",
           findings=None):  # fmt: skip
    """A signed decision row on `evaluation` (no workflow steps are run)."""
    from kapflow.prescriptions.models import EligibilityDecision

    prescriber = evaluation.prescriber
    return EligibilityDecision.objects.create(
        organisation=evaluation.organisation, evaluation=evaluation, course=evaluation.course,
        decision=decision, reason=reason, findings=findings or [], findings_digest="0" * 64,
        clearance_valid_days=180 if decision == "eligible" else None,
        signature=prescriber.user.full_name, decided_by=prescriber.user,
        decided_by_membership=prescriber,
    )  # fmt: skip


def dose_logged(course, taken_on, prescription=None):
    """A daily low dose the client logged on `taken_on` (no checks are run)."""
    from kapflow.prescriptions.models import DoseUse

    prescription = prescription or course.prescriptions.order_by("id").first()
    return DoseUse.objects.create(
        organisation=course.organisation, course=course, prescription=prescription,
        source="self_log", taken_on=taken_on, recorded_by=course.client.user or
        prescription.prescriber.user,
    )  # fmt: skip
