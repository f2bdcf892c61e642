"""Read paths of the practice-partner collaboration: the prescriber's queue, a referral as
each side may see it, the evaluation with its live findings, prescriptions with their supply,
and the client's daily low-dose log. Every read starts from the policy's querysets and is
audited; lists cost a fixed number of queries whatever their length.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from kapflow import policy
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.clinical import eligibility as screen
from kapflow.clinical import prescribing as rx
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.courses.models import Course, DueItem
from kapflow.patients import grants
from kapflow.prescriptions.models import (
    OPEN_REFERRAL,
    Dispense,
    DoseAuthorisation,
    DoseSource,
    DoseUse,
    EligibilityDecision,
    MedicalEvaluation,
    Prescription,
    PrescriptionStatus,
    Referral,
    ReferralStatus,
    RefillRequest,
    RefillStatus,
)
from kapflow.prescriptions.services import evaluation_findings, findings_digest

PAGE_SIZE = 25
SECTION_SIZE = 25


def _per_prescription(model, aggregate):
    """A correlated aggregate of `model` rows of the outer prescription, 0 when none."""
    return Coalesce(
        Subquery(
            model.objects.filter(prescription=OuterRef("pk"))
            .order_by()
            .values("prescription")
            .annotate(n=aggregate)
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def with_supply(qs: QuerySet) -> QuerySet:
    """Annotate each prescription with doses dispensed, used, and fills used (one query)."""
    return qs.annotate(
        dispensed=_per_prescription(Dispense, Sum("quantity")),
        fills=_per_prescription(Dispense, Count("id")),
        used=_per_prescription(DoseUse, Count("id")),
    )


def doses_left(prescription: Prescription) -> int:
    return max(prescription.dispensed - prescription.used, 0)


def fills_left(prescription: Prescription) -> int:
    return max(prescription.refills + 1 - prescription.fills, 0)


# ---- the course page's panel ---------------------------------------------------------------


@dataclass
class CoursePrescribing:
    referral: Referral | None
    decision: EligibilityDecision | None
    prescriptions: list[Prescription]
    refill_request: RefillRequest | None
    can_refer: bool
    is_prescriber: bool
    referral_history: list[Referral] = field(default_factory=list)


def course_prescribing(*, actor, course: Course, now: datetime) -> CoursePrescribing:
    """What the course page shows of the referral, the decision (with the findings the
    prescriber saw) and the prescriptions: both sides see the decision and a prescription
    summary. Five queries."""
    referrals = list(
        policy.referrals_queryset(actor)
        .filter(course=course)
        .select_related("prescriber__user", "partner")
        .order_by("-sent_at", "-id")[:10]
    )
    decision = (
        EligibilityDecision.objects.filter(course=course)
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )
    prescriptions = list(
        with_supply(Prescription.objects.filter(course=course))
        .select_related("prescriber__user")
        .order_by("-status", "-written_on", "-id")[:20]
    )
    for prescription in prescriptions:
        prescription.doses_left = doses_left(prescription)
    refill = (
        RefillRequest.objects.filter(course=course, status=RefillStatus.OPEN)
        .order_by("raised_at")
        .first()
    )
    return CoursePrescribing(
        referral=referrals[0] if referrals else None,
        decision=decision,
        prescriptions=prescriptions,
        refill_request=refill,
        can_refer=policy.can_refer(actor, course)
        if actor.organisation.kind == "practice"
        else False,
        is_prescriber=policy.can_prescribe(actor, course),
        referral_history=referrals[1:],
    )


def prescription_prefill(*, actor, course: Course) -> dict:
    """A new prescription's starting values, from what is already known: the course's pathway
    (daily for low dose, per session otherwise) and delivery (a product sent home when it
    doses at home), and the prescriber's own pharmacy and DEA number from the last
    prescription they wrote for this practice. The dose is left to the prescriber. One
    query."""
    at_home = course.delivery == "at_home"
    product = rx.PRODUCTS["ketamine_sl_lozenge" if at_home else "ketamine_sl_rdt"]
    initial = {
        "product": product.code,
        "frequency": rx.Frequency.DAILY.value
        if course.pathway == "low_dose"
        else rx.Frequency.PER_SESSION.value,
        "strength_mg": product.strengths_mg[0],
        "refills": 0,
    }
    last = (
        Prescription.objects.for_org(course.organisation_id)
        .filter(prescriber=actor)
        .only("pharmacy_name", "pharmacy_phone", "pharmacy_address", "dea_number")
        .order_by("-created_at", "-id")
        .first()
    )
    if last is not None:
        initial.update(
            pharmacy_name=last.pharmacy_name, pharmacy_phone=last.pharmacy_phone,
            pharmacy_address=last.pharmacy_address, dea_number=last.dea_number,
        )  # fmt: skip
    return initial


# ---- referrals -----------------------------------------------------------------------------


def referral_list(*, actor, status: str = "open", page: int = 1) -> Page:
    """The actor's referrals, newest first: a practice's sent referrals, or a prescriber's
    received ones. Three queries per page plus the audit insert. Referrals are clinical:
    billers get 404, as on the caseload."""
    if not policy.can_see_clinical(actor):
        raise NotFound()
    qs = policy.referrals_queryset(actor)
    if status == "open":
        qs = qs.filter(status__in=OPEN_REFERRAL)
    elif status in ReferralStatus.values:
        qs = qs.filter(status=status)
    qs = qs.select_related("client", "prescriber__user", "partner", "organisation").order_by(
        "-sent_at", "-id"
    )
    result = Paginator(qs, PAGE_SIZE).get_page(page)
    audit_record_many(
        actor=actor, action="referral.list", targets=list(result.object_list),
        client_attr="client_id",
    )  # fmt: skip
    return result


def referral_get_for_actor(*, actor, referral_id: int, audit_action="referral.view") -> Referral:
    referral = (
        policy.referrals_queryset(actor)
        .select_related(
            "client", "course", "prescriber__user", "partner", "organisation", "sent_by",
            "responded_by",
        )
        .filter(pk=referral_id)
        .first()
    )  # fmt: skip
    if referral is None:
        raise _referral_not_found(actor, referral_id)
    if audit_action:
        audit_record(
            actor=actor, action=audit_action, target=referral, client_id=referral.client_id
        )
    return referral


def _referral_not_found(actor, referral_id):
    return audit_not_found(
        actor=actor, model=Referral, object_id=referral_id, message="Referral not found."
    )


@dataclass
class EvaluationView:
    evaluation: MedicalEvaluation
    findings: list[screen.Finding]
    digest: str
    decisions: list[EligibilityDecision]
    editable: bool


def evaluation_get_for_actor(*, actor, referral_id: int, today: date | None = None):
    """The evaluation of a referral with its findings screened now. Both sides may read it
    once it exists; only the evaluating prescriber edits it."""
    from kapflow.courses.selectors import with_facts

    referral = referral_get_for_actor(actor=actor, referral_id=referral_id, audit_action="")
    if referral.status == ReferralStatus.WITHDRAWN and policy.is_referral_prescriber(
        actor, referral
    ):
        # The withdrawal ended the prescriber's access, with the care-team grant.
        raise _referral_not_found(actor, referral_id)
    evaluation = (
        MedicalEvaluation.objects.filter(referral=referral)
        .select_related("prescriber__user")
        .first()
    )
    if evaluation is None:
        raise NotFound("No evaluation yet.")
    evaluation.referral = referral
    evaluation.course = with_facts(Course.objects.filter(pk=referral.course_id)).get()
    today = today or clock.clinical_date(evaluation.course.organisation)
    findings = evaluation_findings(evaluation, on_date=today)
    audit_record(
        actor=actor, action="evaluation.view", target=evaluation, client_id=referral.client_id
    )
    return EvaluationView(
        evaluation=evaluation,
        findings=findings,
        digest=findings_digest(findings),
        decisions=list(
            evaluation.decisions.select_related("decided_by").order_by("-decided_at", "-id")
        ),
        editable=evaluation.prescriber_id == actor.pk
        and referral.status in (ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED),
    )


# ---- prescriptions -------------------------------------------------------------------------


@dataclass
class PrescriptionView:
    prescription: Prescription
    dispenses: list[Dispense]
    uses: list[DoseUse]
    refill_requests: list[RefillRequest]
    adherence: rx.Adherence | None
    authorisations: list[DoseAuthorisation] = field(default_factory=list)


def prescription_get_for_actor(*, actor, prescription_id: int, today: date | None = None):
    prescription = (
        with_supply(Prescription.objects.filter(course__in=policy.courses_queryset(actor)))
        .select_related(
            "course__client", "course__organisation", "prescriber__user", "cancelled_by"
        )
        .filter(pk=prescription_id)
        .first()
    )
    if prescription is None:
        raise audit_not_found(
            actor=actor, model=Prescription, object_id=prescription_id,
            message="Prescription not found.",
        )  # fmt: skip
    audit_record(
        actor=actor, action="prescription.view", target=prescription,
        client_id=prescription.course.client_id,
    )  # fmt: skip
    uses = list(
        prescription.uses.select_related("recorded_by", "authorisation__authorised_by").order_by(
            "-used_at", "-id"
        )[:200]
    )
    today = today or clock.clinical_date(prescription.course.organisation)
    adherence = None
    if prescription.frequency == rx.Frequency.DAILY:
        adherence = low_dose_adherence(course=prescription.course, today=today)
    return PrescriptionView(
        prescription=prescription,
        dispenses=list(
            prescription.dispenses.select_related("recorded_by").order_by("fill_number")
        ),
        uses=uses,
        refill_requests=list(
            prescription.refill_requests.select_related("resolved_by").order_by("-raised_at")
        ),
        adherence=adherence,
        authorisations=list(
            prescription.dose_authorisations.select_related("authorised_by", "dose_use").order_by(
                "-authorised_at", "-id"
            )
        ),
    )


@dataclass(frozen=True)
class SessionAllowance:
    """What a course's next dosing session may be given (decision 0030): the prescription's
    per-session amount, or more if the course's prescriber authorised it."""

    prescription_id: int
    route: str
    per_session_mg: Decimal
    authorised_mg: Decimal | None

    @property
    def most_mg(self) -> Decimal:
        return max(self.per_session_mg, self.authorised_mg or self.per_session_mg)


def session_allowance(
    *, course: Course, dosing_event_id: int | None = None
) -> SessionAllowance | None:
    """For the dosing forms: the prescription the next session's dose comes from (the oldest
    active one with doses left, as prescriptions.services picks it) and any authorisation
    waiting for that session; or, for a session whose first dose was given
    (`dosing_event_id`), the prescription and authorisation that dose used. At most two
    queries; None without one. The service checks the amount again when a dose is given."""
    if dosing_event_id is not None:
        use = (
            DoseUse.objects.filter(course=course, dosing_event_id=dosing_event_id)
            .select_related("prescription", "authorisation")
            .first()
        )
        if use is None:
            return None
        authorisation = getattr(use, "authorisation", None)
        return SessionAllowance(
            prescription_id=use.prescription_id, route=use.prescription.route,
            per_session_mg=use.prescription.dose_mg,
            authorised_mg=authorisation.amount_mg if authorisation else None,
        )  # fmt: skip
    active = with_supply(
        Prescription.objects.filter(course=course, status=PrescriptionStatus.ACTIVE)
    ).order_by("written_on", "id")
    chosen = next((p for p in active if p.dispensed - p.used > 0), None)
    if chosen is None:
        return None
    authorised = (
        DoseAuthorisation.objects.filter(prescription=chosen, dose_use__isnull=True)
        .order_by("-authorised_at", "-id")
        .values_list("amount_mg", flat=True)
        .first()
    )
    return SessionAllowance(
        prescription_id=chosen.pk, route=chosen.route, per_session_mg=chosen.dose_mg,
        authorised_mg=authorised,
    )  # fmt: skip


def low_dose_adherence(*, course: Course, today: date, window_days: int = 28) -> rx.Adherence:
    """Adherence to the daily low-dose plan since the first fill (two queries)."""
    first_fill = (
        Dispense.objects.filter(
            prescription__course=course, prescription__status=PrescriptionStatus.ACTIVE
        )
        .order_by("dispensed_on")
        .values_list("dispensed_on", flat=True)
        .first()
    )
    if first_fill is None:
        return rx.Adherence(today, today, 0, 0, ())
    since = today - timedelta(days=window_days)
    # A supervised session dose that day counts as taken, like a logged one.
    taken = set(
        DoseUse.objects.filter(course=course, taken_on__gte=since).values_list(
            "taken_on", flat=True
        )
    )
    return rx.daily_adherence(taken, start=first_fill, today=today, window_days=window_days)


# ---- the prescriber's queue ----------------------------------------------------------------


@dataclass
class PrescriberQueue:
    counts: dict[str, int]
    new_referrals: list[Referral]
    evaluations: list[Referral]
    refills: list[RefillRequest]
    followups: list[DueItem]
    low_dose: list[Course]


def prescriber_queue(*, actor, today: date | None = None) -> PrescriberQueue:
    """The prescriber's work, newest-waiting first in each section, each section capped at
    SECTION_SIZE with its full count. Eight queries however many clients are referred."""
    if not actor.has_role("prescriber"):
        raise NotFound()
    # A list across the partner's practices: "today" is the prescriber's (decision 0027).
    today = today or clock.viewer_today()
    # Addressed to this prescriber (a practice's own prescriber sees more referrals than theirs).
    referrals = policy.referrals_queryset(actor).filter(prescriber=actor)
    open_statuses = [ReferralStatus.SENT, ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED]
    counts = referrals.filter(status__in=open_statuses).aggregate(
        new=Count("id", filter=Q(status=ReferralStatus.SENT)),
        evaluating=Count(
            "id", filter=Q(status__in=[ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED])
        ),
    )
    section = referrals.select_related("client", "organisation", "course")
    new = list(section.filter(status=ReferralStatus.SENT).order_by("sent_at", "id")[:SECTION_SIZE])
    evaluating = list(
        section.filter(status__in=[ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED]).order_by(
            "status_changed_at", "id"
        )[:SECTION_SIZE]
    )
    # The other sections are the actor's own courses, while the care-team grant lasts.
    granted = grants.holds_grant(actor.pk, client="course__client")
    refills_qs = RefillRequest.objects.filter(prescriber=actor, status=RefillStatus.OPEN).filter(
        granted
    )
    counts["refills"] = refills_qs.count()
    refills = list(
        refills_qs.select_related("course__client", "prescription").order_by("raised_at", "id")[
            :SECTION_SIZE
        ]
    )
    followups = list(
        DueItem.objects.filter(
            course__prescriber=actor, code="followup.due", resolved_at__isnull=True
        )
        .filter(granted)
        .select_related("course__client")
        .order_by("-overdue", "due_at", "id")[:SECTION_SIZE]
    )
    # Days with a dose in the last week, from any source: a supervised session dose counts.
    week_ago = today - timedelta(days=7)
    low_dose = list(
        Course.objects.filter(
            prescriber=actor, pathway="low_dose", stage__in=["active", "maintenance"]
        )
        .filter(grants.holds_grant(actor.pk, client="client"))
        .annotate(
            logged_7d=Count(
                "dose_uses__taken_on",
                filter=Q(dose_uses__taken_on__gt=week_ago, dose_uses__taken_on__lte=today),
                distinct=True,
            )
        )
        .filter(logged_7d__lt=7)
        .select_related("client")
        .order_by("logged_7d", "id")[:SECTION_SIZE]
    )
    # One audit row per client shown, in one INSERT (the clients, not the work items).
    clients = {r.client_id: r.client for r in new + evaluating}
    clients.update({r.course.client_id: r.course.client for r in refills})
    clients.update({d.course.client_id: d.course.client for d in followups})
    clients.update({c.client_id: c.client for c in low_dose})
    audit_record_many(actor=actor, action="prescriber_queue.view", targets=clients.values())
    return PrescriberQueue(
        counts=counts,
        new_referrals=new,
        evaluations=evaluating,
        refills=refills,
        followups=followups,
        low_dose=low_dose,
    )


# ---- the client's portal -------------------------------------------------------------------


@dataclass
class DoseLogView:
    course: Course
    doses_left: int
    logs: list[DoseUse]
    adherence: rx.Adherence
    logged_today: bool


def dose_log_for_client(*, actor, today: date | None = None) -> DoseLogView | None:
    """The signed-in client's low-dose log, or None when their course has no daily plan."""
    if not policy.is_client_actor(actor):
        raise NotFound()
    # A client's membership is in the practice that holds their record.
    today = today or clock.clinical_date(actor.organisation)
    course = (
        Course.objects.filter(
            client__user_id=actor.user_id, pathway="low_dose", closed_at__isnull=True
        )
        .select_related("client")
        .first()
    )
    if course is None:
        return None
    prescriptions = list(
        with_supply(Prescription.objects.filter(course=course, status=PrescriptionStatus.ACTIVE))
    )
    logs = list(
        DoseUse.objects.filter(course=course, source=DoseSource.SELF_LOG).order_by(
            "-taken_on", "-id"
        )[:30]
    )
    audit_record(actor=actor, action="dose_log.view", target=course, client_id=course.client_id)
    return DoseLogView(
        course=course,
        doses_left=sum(doses_left(p) for p in prescriptions),
        logs=logs,
        adherence=low_dose_adherence(course=course, today=today),
        logged_today=any(log.taken_on == today for log in logs),
    )
