"""A dose used: the one place a dose is taken from a course's supply (a dosing session, the
client's daily low-dose log), the refill request it may raise, and the per-session amount
check (decision 0030).

Below kapflow.courses.services, which calls dose_use_for_session inside a dosing start, and
below kapflow.prescriptions.services: it imports neither (issue 20: no import circle)."""

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum

from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_record
from kapflow.clinical import course as course_rules
from kapflow.clinical import prescribing as rx
from kapflow.core import clock
from kapflow.core.errors import GateBlocked
from kapflow.courses.facts import course_facts_refresh
from kapflow.courses.models import Course, CourseEvent, GateSettings
from kapflow.prescriptions.models import (
    DoseAuthorisation,
    DoseSource,
    DoseUse,
    Prescription,
    PrescriptionStatus,
    RefillRequest,
    RefillStatus,
)


def supply(prescription: Prescription) -> tuple[int, int, int]:
    """(dispensed, used, fills used) for one prescription."""
    dispensed = prescription.dispenses.aggregate(n=Sum("quantity"), fills=Count("id"))
    used = prescription.uses.count()
    return dispensed["n"] or 0, used, dispensed["fills"] or 0


def _pick_prescription(course: Course) -> tuple[Prescription, int] | None:
    """The oldest active prescription with doses left, and how many it has left."""
    for prescription in (
        Prescription.objects.select_for_update()
        .filter(course=course, status=PrescriptionStatus.ACTIVE)
        .order_by("written_on", "id")
    ):
        dispensed, used, _ = supply(prescription)
        if dispensed - used > 0:
            return prescription, dispensed - used
    return None


def use_dose(
    *, course: Course, by_user, source: str, now: datetime, taken_on: date, amount_mg=None,
    note: str = "", event: CourseEvent | None = None, prescription: Prescription | None = None,
) -> DoseUse:  # fmt: skip
    if prescription is None:
        prescription = prescription_to_use(course)
    use = DoseUse(
        organisation=course.organisation, course=course, prescription=prescription,
        source=source, used_at=now, taken_on=taken_on, amount_mg=amount_mg, note=note[:500],
        dosing_event=event, recorded_by=by_user, recorded_at=now,
    )  # fmt: skip
    use.full_clean()
    use.save()
    _refill_check(course=course, prescription=prescription, now=now)
    course_facts_refresh(course_id=course.pk)
    return use


def prescription_to_use(course: Course) -> Prescription:
    picked = _pick_prescription(course)
    if picked is None:
        raise GateBlocked(
            [course_rules.Reason("prescription.no_doses_left", "No doses are left to use.")]
        )
    return picked[0]


def _refill_check(*, course: Course, prescription: Prescription, now: datetime) -> None:
    """Raise one refill request for the prescriber when doses left across the course's
    active prescriptions fall to the practice's threshold (issue 5, configurable)."""
    threshold = (
        GateSettings.objects.filter(organisation_id=course.organisation_id)
        .values_list("refill_threshold", flat=True)
        .first()
    )
    threshold = 1 if threshold is None else threshold
    left = 0
    for p in Prescription.objects.filter(course=course, status=PrescriptionStatus.ACTIVE):
        dispensed, used, _ = supply(p)
        left += max(dispensed - used, 0)
    if not rx.refill_due(left, threshold=threshold, fills_left=0):
        return
    if RefillRequest.objects.filter(course=course, status=RefillStatus.OPEN).exists():
        return
    _, _, fills = supply(prescription)
    request = RefillRequest.objects.create(
        organisation=course.organisation, course=course, prescription=prescription,
        prescriber=prescription.prescriber, doses_left=left,
        fills_left=max(prescription.refills + 1 - fills, 0), raised_at=now,
    )  # fmt: skip
    transaction.on_commit(lambda: _notify_refill(request.pk))


def _notify_refill(request_id: int) -> None:
    from kapflow.prescriptions.tasks import refill_notify

    refill_notify.enqueue(refill_request_id=request_id)


def dose_use_for_session(
    *,
    actor: Membership,
    course: Course,
    event: CourseEvent,
    now: datetime,
    amount_mg: Decimal | None = None,
    unit: str = "mg",
) -> DoseUse:
    """A dosing session uses one dose. Called by courses.services.dosing_start inside its
    transaction, after the gate (which saw doses left) passed under the course lock.

    The one place a session's dose is recorded (the quick record, the session screen, the
    API): the amount given (default: the prescription's per-session amount) is refused
    above the prescription's per-session amount unless the course's prescriber authorised
    more for this session (decision 0030); that authorisation is used by this session."""
    prescription = prescription_to_use(course)
    amount = prescription.dose_mg if amount_mg is None else Decimal(amount_mg)
    # Only the prescriber's latest authorisation counts, and only while no session has used
    # it: a newer one supersedes every earlier one (an amount lowered from 400 to 250 mg
    # never lets a later session have the 400).
    latest = (
        DoseAuthorisation.objects.select_for_update()
        .filter(prescription=prescription)
        .order_by("-authorised_at", "-id")
        .first()
    )
    authorisation = latest if latest is not None and latest.dose_use_id is None else None
    reasons = rx.session_amount_reasons(
        total_mg=amount, per_session_mg=prescription.dose_mg,
        authorised_mg=authorisation.amount_mg if authorisation else None, unit=unit,
    )  # fmt: skip
    if reasons:
        raise GateBlocked(reasons)
    use = use_dose(
        course=course, by_user=actor.user, source=DoseSource.SESSION, now=now,
        taken_on=clock.clinical_date(course.organisation, now), event=event,
        amount_mg=amount, prescription=prescription,
    )  # fmt: skip
    if authorisation is not None:
        # "For the next session": this session takes it, whether or not the first dose
        # needed it, so its boosters may too and a later session may not.
        authorisation.dose_use = use
        authorisation.save(update_fields=["dose_use"])
    audit_record(actor=actor, action="dose.use", target=use, client_id=course.client_id)
    return use


def session_amount_check(
    *, actor: Membership, dose_use_id: int, total_mg: Decimal, unit: str = "mg"
) -> DoseUse:
    """A booster, or a corrected dose, changes a session's total: refused above the
    prescription's per-session amount (or the prescriber's authorisation for this session),
    else the session's dose use records the new total. Called by kapflow.encounters inside
    its transaction, under the session lock."""
    use = (
        DoseUse.objects.select_for_update(of=("self",))
        .select_related("prescription", "course")
        .get(pk=dose_use_id)
    )
    authorisation = DoseAuthorisation.objects.filter(dose_use=use).first()
    reasons = rx.session_amount_reasons(
        total_mg=Decimal(total_mg), per_session_mg=use.prescription.dose_mg,
        authorised_mg=authorisation.amount_mg if authorisation else None, unit=unit,
        booster=True,
    )  # fmt: skip
    if reasons:
        raise GateBlocked(reasons)
    if use.amount_mg != total_mg:
        use.amount_mg = total_mg
        use.full_clean()
        use.save(update_fields=["amount_mg"])
        audit_record(
            actor=actor, action="dose.amount", target=use, client_id=use.course.client_id,
            changed_fields=["amount_mg"],
        )  # fmt: skip
    return use
