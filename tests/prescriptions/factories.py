"""Prescription factories: an active prescription with doses dispensed, for course tests."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.clinical import prescribing as rx
from kapflow.prescriptions.models import Dispense, Prescription


def prescribe(course, prescriber=None, *, doses=2, refills=0, quantity=None, pathway=None,
              written_on=None, product="ketamine_sl_rdt") -> Prescription:  # fmt: skip
    """An active prescription on `course`, its first fill of `doses` dispensed (none when
    doses is 0)."""
    written_on = written_on or timezone.localdate() - datetime.timedelta(days=1)
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
