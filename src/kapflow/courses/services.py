"""Course write paths: open, transition, record events, start a dosing session.

Each function locks the course row first (so a double submit applies once: the second sees
the new stage and is refused), reads the facts, asks kapflow.clinical.course, and either
refuses with every reason (GateBlocked) or writes the change, its timeline event and its
audit row in one transaction.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import ClinicianLicence, Membership, Role
from kapflow.assessments.urgent import urgent_task_raise_for_screen
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import course as rules
from kapflow.clinical import overrides as ovr
from kapflow.core import clock
from kapflow.core.bounds import DateKind, check_date, check_instant, start_of
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses.facts import course_facts_refresh
from kapflow.courses.models import (
    CLOSED_VALUES,
    CONDITION_CHOICES,
    FACT_FIELDS,
    Course,
    CourseEvent,
    CourseFacts,
    DueItem,
    EventKind,
    GateSettings,
    OverrideDecision,
)
from kapflow.courses.selectors import course_facts, gate_policy, with_facts
from kapflow.patients.selectors import client_get_for_update
from kapflow.patients.services import care_team_end, care_team_grant
from kapflow.prescriptions.doses import dose_use_for_session

logger = logging.getLogger(__name__)


def course_for_update(actor: Membership, course_id: int) -> Course:
    """Lock the course row, then load it with its facts (computed from the rows, as the
    gates must) and care team. If the stored facts differ, a write path missed its refresh:
    it is logged and the stored row repaired."""
    locked = (
        policy.courses_queryset(actor).select_for_update(of=("self",)).filter(pk=course_id).first()
    )
    if locked is None:
        raise audit_not_found(
            actor=actor, model=Course, object_id=course_id, message="Course not found."
        )
    course = (
        with_facts(Course.objects.filter(pk=locked.pk))
        .select_related("facts")
        .prefetch_related("client__care_team")
        .get()
    )
    _facts_check(course)
    return course


# ---- the stored facts (decision 0042) ---------------------------------------------------------


def _facts_check(course: Course) -> None:
    """Compare the stored facts with those just computed (annotated by with_facts)."""
    try:
        stored = course.facts
    except CourseFacts.DoesNotExist:
        stored = None
    differ = (
        list(FACT_FIELDS)
        if stored is None
        else [f for f in FACT_FIELDS if getattr(stored, f) != getattr(course, f)]
    )
    if differ:
        logger.warning("course_facts.drift", extra={"course_id": course.pk, "fields": differ})
        course_facts_refresh(course_id=course.pk)


def _event(*, actor, course, kind, occurred_at=None, **fields) -> CourseEvent:
    event = CourseEvent(
        organisation=course.organisation,
        course=course,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        actor=actor.user,
        actor_membership=actor,
        **fields,
    )
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def course_open(
    *,
    actor: Membership,
    client_id: int,
    pathway: str,
    delivery: str,
    therapist_id: int | None = None,
    condition: str = "depression",
) -> Course:
    """Open a course at inquiry for a client with no open course."""
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = type(client).objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_open_course(actor, client):
        raise PermissionDenied(
            "Only the practice's admins and the client's therapists open courses."
        )
    errors = {}
    if pathway not in {p.value for p in rules.Pathway}:
        errors["pathway"] = "Choose higher-dose or psycholytic low-dose."
    if delivery not in {d.value for d in rules.Delivery}:
        errors["delivery"] = "Choose in person or at home."
    if condition not in dict(CONDITION_CHOICES):
        errors["condition"] = "Choose the main condition."
    therapist = None
    if therapist_id is None and actor.has_role(Role.THERAPIST):
        therapist = actor
    elif therapist_id is not None:
        therapist = (
            Membership.objects.filter(
                pk=therapist_id, organisation=client.organisation, is_active=True,
                roles__role=Role.THERAPIST,
            ).first()
        )  # fmt: skip
    if therapist is None:
        errors["therapist"] = "Choose the course's therapist."
    if errors:
        raise ValidationError(errors)
    if Course.objects.filter(client=client, closed_at__isnull=True).exists():
        raise DomainError(
            "This client already has an open course; close it before opening another.",
            code="course.already_open",
        )
    course = Course(
        organisation=client.organisation,
        client=client,
        pathway=pathway,
        delivery=delivery,
        condition=condition,
        therapist=therapist,
    )
    course.full_clean()
    course.save()
    care_team_grant(actor=actor, client=client, membership=therapist, role="therapist")
    _event(
        actor=actor, course=course, kind=EventKind.TRANSITION, to_stage=course.stage,
        action="open", reason="Course opened.",
    )  # fmt: skip
    course_facts_refresh(course_id=course.pk)
    # The practice outcomes report groups a client by their most recent course (decision 0043).
    from kapflow.outcomes.services import outcome_summary_refresh

    outcome_summary_refresh(client_id=client.pk)
    audit_record(actor=actor, action="course.open", target=course, client_id=client.pk)
    return course


def _require_side(actor, course, side: rules.Side) -> None:
    if not policy.can_act_on_course(actor, course, side.value):
        who = "the course's prescriber" if side is rules.Side.PRESCRIBER else "its therapist"
        raise PermissionDenied(f"This step is for {who}.")


def _action(action: str) -> rules.Action:
    try:
        return rules.Action(action)
    except ValueError as exc:
        raise ValidationError({"action": "Unknown step."}) from exc


@transaction.atomic
def course_transition(
    *,
    actor: Membership,
    course_id: int,
    action: str,
    reason: str = "",
    prescriber_id: int | None = None,
    clearance_on: date | None = None,
    clearance_valid_days: int | None = None,
    preparation_planned: int | None = None,
    now: datetime | None = None,
) -> Course:
    """Move the course along one of its therapist's or prescriber's own steps (the course page
    and the API), or refuse with every reason (GateBlocked). The referral, evaluation and
    eligibility steps are taken on the referral pages (course_workflow_step); asked for
    here, they are refused whatever else the request carries."""
    act = _action(action)
    if act in WORKFLOW_ACTIONS:
        raise DomainError(
            "Referral, evaluation and eligibility steps are taken on the referral page.",
            code="course.use_referral",
        )
    course = course_for_update(actor, course_id)
    _require_side(actor, course, rules.TRANSITIONS[act].side)
    return _transition(
        actor=actor, course=course, act=act, reason=reason, prescriber_id=prescriber_id,
        clearance_on=clearance_on, clearance_valid_days=clearance_valid_days,
        preparation_planned=preparation_planned, now=now or timezone.now(),
    )  # fmt: skip


@transaction.atomic
def course_workflow_step(
    *,
    actor: Membership,
    course_id: int,
    action: str,
    reason: str = "",
    prescriber_id: int | None = None,
    clearance_on: date | None = None,
    clearance_valid_days: int | None = None,
    now: datetime | None = None,
) -> Course:
    """A referral, evaluation or eligibility step (WORKFLOW_ACTIONS), for kapflow.prescriptions
    only: the referral's rules decide who may take it (the referring therapist, the
    referral's prescriber), and its services check them before calling this. The course's
    own gate, its reasons and its writes are course_transition's."""
    act = _action(action)
    if act not in WORKFLOW_ACTIONS:
        raise ValueError(f"{act.value} is not a referral step: use course_transition.")
    course = course_for_update(actor, course_id)
    return _transition(
        actor=actor, course=course, act=act, reason=reason, prescriber_id=prescriber_id,
        clearance_on=clearance_on, clearance_valid_days=clearance_valid_days,
        now=now or timezone.now(),
    )  # fmt: skip


def _transition(
    *, actor, course, act: rules.Action, reason, prescriber_id=None, clearance_on=None,
    clearance_valid_days=None, preparation_planned=None, now: datetime,
) -> Course:  # fmt: skip
    """The one path of a stage change: the step's inputs checked, the rules asked with them
    (transition_reasons), the new facts taken from rules.apply and written to the row, then
    the side effects (the prescriber's grant, a closed course's open referral), the timeline
    event, the stored facts and the audit row."""
    transition = rules.TRANSITIONS[act]
    reason = (reason or "").strip()
    if transition.reason_required and not reason:
        raise ValidationError({"reason": "Write why; this decision needs a reason."})
    before = course_facts(course)
    if before.stage not in transition.sources:
        # The stage decides first: a wrong-stage request is refused whatever else it carries.
        raise GateBlocked(rules.transition_reasons(act, before, now=now))
    facts, prescriber = _with_step_inputs(
        course, act, before, prescriber_id=prescriber_id, clearance_on=clearance_on,
        clearance_valid_days=clearance_valid_days, preparation_planned=preparation_planned,
        now=now,
    )  # fmt: skip
    reasons = rules.transition_reasons(act, facts, now=now, policy=gate_policy(course))
    if reasons:
        raise GateBlocked(reasons)
    after = rules.apply(facts, act)
    from_stage = course.stage
    data = _write_facts(course, act=act, before=before, after=after, now=now)
    data |= _step_effects(
        actor=actor, course=course, act=act, after=after, prescriber=prescriber,
        preparation_planned=preparation_planned, reason=reason, now=now,
    )  # fmt: skip
    course.full_clean()
    course.save()
    _event(
        actor=actor, course=course, kind=EventKind.TRANSITION, occurred_at=now,
        from_stage=from_stage, to_stage=course.stage, action=act.value, reason=reason, data=data,
    )  # fmt: skip
    # The prescriber may have changed (their licence is a fact).
    course_facts_refresh(course_id=course.pk)
    audit_record(
        actor=actor, action=f"course.{act.value}", target=course, client_id=course.client_id,
        changed_fields=["stage"],
    )  # fmt: skip
    return course


def _with_step_inputs(
    course, act, facts, *, prescriber_id, clearance_on, clearance_valid_days,
    preparation_planned, now,
) -> tuple[rules.CourseFacts, Membership | None]:  # fmt: skip
    """The facts as the step would make them with what the request carries (the prescriber
    referred to, the clearance signed), each input checked first with its field named."""
    prescriber = None
    if act is rules.Action.DECIDE_ELIGIBLE:
        _clearance_check(course, clearance_on, clearance_valid_days, now=now)
        facts = replace(facts, clearance_on=clearance_on, clearance_valid_days=clearance_valid_days)
    if act is rules.Action.REFER and prescriber_id:
        prescriber = _prescriber_choice(course, prescriber_id)
        facts = replace(facts, prescriber_assigned=True)
    if act is rules.Action.START_PREPARATION and preparation_planned not in (None, 1, 2, 3):
        raise ValidationError({"preparation_planned": "Plan one to three preparation sessions."})
    return facts, prescriber


def _clearance_check(course, clearance_on, clearance_valid_days, *, now) -> None:
    errors = {}
    if clearance_on is not None and clearance_on > clock.clinical_date(course.organisation, now):
        errors["clearance_on"] = "The clearance date cannot be in the future."
    if clearance_valid_days is not None and not 1 <= clearance_valid_days <= MAX_CLEARANCE_DAYS:
        errors["clearance_valid_days"] = f"Enter 1 to {MAX_CLEARANCE_DAYS} days."
    if errors:
        raise ValidationError(errors)
    # The clearance is this course's eligibility decision, made on an evaluation that
    # follows the course's referral: not before the course opened.
    check_date(
        "clearance_on", clearance_on, organisation=course.organisation,
        kind=DateKind.HAPPENED, born=course.client.date_of_birth, now=now,
        starts=(start_of(course.organisation, course.opened_at, "the course opened"),),
    )  # fmt: skip


def _write_facts(course, *, act, before, after, now) -> dict:
    """Write rules.apply's new facts to the course row (the facts the row holds itself);
    returns what the timeline event records of them. The eligible decision always records
    the clearance it signs, even one equal to the course's."""
    course.stage = after.stage.value
    course.stage_changed_at = now
    data: dict = {}
    if after.eligibility != before.eligibility:
        course.eligibility = after.eligibility or ""
    if act is rules.Action.DECIDE_ELIGIBLE or (
        after.clearance_on, after.clearance_valid_days
    ) != (before.clearance_on, before.clearance_valid_days):  # fmt: skip
        course.clearance_on = after.clearance_on
        course.clearance_valid_days = after.clearance_valid_days
        data.update(
            clearance_on=after.clearance_on.isoformat() if after.clearance_on else None,
            valid_days=after.clearance_valid_days,
        )
    if after.closed:
        course.closed_at = now
    return data


def _step_effects(
    *, actor, course, act, after, prescriber, preparation_planned, reason, now
) -> dict:
    """What a step changes beside the course's facts: the prescriber's care-team grant (the
    referral is the partner's access, decision 0005), the preparation plan, the consent
    version confirmed, a closed course's open referral. Returns what the event records."""
    data: dict = {}
    if prescriber is not None:
        course.prescriber = prescriber
        data["prescriber_membership_id"] = prescriber.pk
        care_team_grant(
            actor=actor, client=course.client, membership=prescriber, role="prescriber", now=now
        )
    if not after.prescriber_assigned and course.prescriber_id:
        # Declined: the referral was the partner's access grant, and it ends with it.
        care_team_end(
            actor=actor, client=course.client, membership_id=course.prescriber_id,
            role="prescriber", reason=reason or "The referral was declined.", now=now,
        )  # fmt: skip
        data["prescriber_membership_id"] = course.prescriber_id
        course.prescriber = None
    if act is rules.Action.RECORD_CONSENT:
        # The client's signature is the record (kapflow.consents); the step notes which
        # version the therapist confirmed.
        data["consent_version"] = course.kap_signed_version
        data["consent_signed_at"] = course.kap_signed_at.isoformat()
    if act is rules.Action.START_PREPARATION and preparation_planned:
        course.preparation_planned = preparation_planned
        data["preparation_planned"] = preparation_planned
    if after.closed and act is not rules.Action.DECIDE_NOT_ELIGIBLE:
        data |= _close_open_referral(actor=actor, course=course, reason=reason, now=now)
    return data


def _close_open_referral(*, actor, course, reason, now) -> dict:
    """A course closed while its referral is still open takes the referral with it, so it
    leaves the prescriber's queue (the eligibility decision closes its own referral)."""
    from kapflow.prescriptions.models import OPEN_REFERRAL, Referral

    withdrawn = Referral.objects.filter(course=course, status__in=OPEN_REFERRAL).update(
        status="withdrawn", status_changed_at=now, responded_by=actor.user,
        status_reason=f"The course was closed: {reason}",
    )  # fmt: skip
    if not (withdrawn and course.prescriber_id):
        return {}
    # The prescriber never took the client on: the referral's grant ends too.
    care_team_end(
        actor=actor, client=course.client, membership_id=course.prescriber_id,
        role="prescriber", reason=f"The course was closed: {reason}"[:500], now=now,
    )  # fmt: skip
    return {"referral_withdrawn": True}


def _prescriber_choice(course: Course, prescriber_id: int) -> Membership:
    candidate = (
        policy.assignable_clinicians_queryset(None, course.client)
        .filter(pk=prescriber_id, roles__role=Role.PRESCRIBER)
        .first()
    )
    if candidate is None:
        raise ValidationError(
            {"prescriber": "Choose a prescriber of this practice or of a partner organisation."}
        )
    return candidate


MAX_CLEARANCE_DAYS = 730

WORKFLOW_ACTIONS = frozenset(
    {
        rules.Action.REFER,
        rules.Action.BEGIN_EVALUATION,
        rules.Action.DECIDE_ELIGIBLE,
        rules.Action.DECIDE_NOT_ELIGIBLE,
        rules.Action.DECLINE_REFERRAL,
    }
)

RECORDABLE = {
    EventKind.PREPARATION: rules.Side.THERAPIST,
    EventKind.RISK_SCREEN: rules.Side.THERAPIST,
    EventKind.INTEGRATION: rules.Side.THERAPIST,
    EventKind.FOLLOWUP: rules.Side.PRESCRIBER,
}


@transaction.atomic
def course_record(
    *,
    actor: Membership,
    course_id: int,
    kind: str,
    occurred_at: datetime | None = None,
    note: str = "",
    positive: bool | None = None,
    data: dict | None = None,
    now: datetime | None = None,
) -> CourseEvent:
    """Record something that happened in the course: a preparation session, a risk screen,
    an integration session, a medical follow-up. (Consent is signed and withdrawn through
    kapflow.consents.services, which puts its own events on the timeline.)"""
    now = now or timezone.now()
    try:
        kind = EventKind(kind)
    except ValueError as exc:
        raise ValidationError({"kind": "Unknown kind of record."}) from exc
    if kind not in RECORDABLE:
        raise ValidationError({"kind": "This cannot be recorded directly."})
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at)
    course = course_for_update(actor, course_id)
    _require_side(actor, course, RECORDABLE[kind])
    occurred_at = occurred_at or now
    if occurred_at > now:
        raise ValidationError({"occurred_at": "This cannot be in the future."})
    # Everything on a course's timeline happens within it: not before the course opened.
    check_instant(
        "occurred_at", occurred_at, organisation=course.organisation, kind=DateKind.HAPPENED,
        born=course.client.date_of_birth, now=now,
        starts=(start_of(course.organisation, course.opened_at, "the course opened"),),
    )  # fmt: skip
    facts = course_facts(course)
    if facts.closed:
        raise GateBlocked([rules.Reason("course.closed", "The course is closed.")])
    reasons: list[rules.Reason] = []
    data = dict(data or {})
    if kind is EventKind.RISK_SCREEN and positive is None:
        raise ValidationError({"positive": "Say whether the screen was positive."})
    # Only a structured risk assessment (kapflow.assessments) marks a screen as one.
    data.pop("clinician_risk_assessment", None)
    if kind is EventKind.PREPARATION and facts.stage not in {
        rules.Stage.CONSENTED,
        rules.Stage.PREPARATION,
        rules.Stage.ACTIVE,
        rules.Stage.MAINTENANCE,
    }:
        reasons.append(rules.Reason("stage.not_allowed", "Preparation comes after consent."))
    if kind is EventKind.INTEGRATION and facts.dosing_count < 1:
        reasons.append(rules.Reason("dosing.none", "No dosing session to integrate yet."))
    if kind is EventKind.FOLLOWUP and facts.stage not in rules.DOSING_STAGES:
        reasons.append(rules.Reason("stage.not_active", "Follow-ups happen once dosing began."))
    if reasons:
        raise GateBlocked(reasons)
    event = _event(
        actor=actor, course=course, kind=kind, occurred_at=occurred_at, reason=note.strip(),
        positive=positive if kind is EventKind.RISK_SCREEN else None, data=data,
    )  # fmt: skip
    audit_record(
        actor=actor, action=f"course.record_{kind.value}", target=event,
        client_id=course.client_id,
    )  # fmt: skip
    if kind is EventKind.RISK_SCREEN and positive:
        # A typed positive screen raises the same urgent task a scored one does; a typed
        # negative screen never clears a positive one (decision 0029).
        urgent_task_raise_for_screen(actor=actor, event=event)
    course_facts_refresh(course_id=course.pk)
    return event


def actor_licence(actor: Membership, course: Course, now: datetime) -> ClinicianLicence | None:
    """The actor's licence covering the client's state on the course's clinical date (None:
    they hold no current licence there)."""
    today = clock.clinical_date(course.organisation, now)
    return (
        ClinicianLicence.objects.filter(user_id=actor.user_id, state=course.client.state)
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        .order_by("pk")
        .first()
    )


def _actor_licence_reasons(
    actor: Membership, course: Course, now: datetime, reasons: list[rules.Reason]
) -> list[rules.Reason]:
    """Hard: whoever starts a dosing (quick record, session start) or gives its first dose
    must hold a current licence in the client's state on the clinical date; the course's
    own therapist being licensed does not cover a colleague acting for them. (The course's
    therapist without one is already refused by `licence.state_mismatch` in `reasons`.)"""
    if actor.pk == course.therapist_id and any(r.code == "licence.state_mismatch" for r in reasons):
        return []
    if actor_licence(actor, course, now) is not None:
        return []
    state = course.client.state or "the client's state"
    return [
        rules.Reason(
            "licence.actor_state_mismatch",
            f"You hold no current licence in {state}, where the client is, so you cannot run "
            "this dosing; a clinician licensed there must.",
        )
    ]


def override_signer(
    actor: Membership, course: Course, now: datetime
) -> tuple[ovr.Signer, ClinicianLicence | None]:
    """The actor as the override table sees them on this course (course.client.care_team
    prefetched), and their licence covering the client's state on the course's clinical
    date (None: they cannot sign)."""
    licence = actor_licence(actor, course, now)
    signer = ovr.Signer(
        treating_clinician=policy.is_treating_clinician(actor, course),
        prescriber=policy.can_act_on_course(actor, course, "prescriber"),
        licensed=licence is not None,
    )
    return signer, licence


def _override_table(course: Course) -> dict:
    return ovr.practice_table(gate_policy(course).override_authority)


def _standing_codes(course: Course, reasons, day: rules.DoseDay, now: datetime) -> set[str]:
    """Codes covered by decisions signed ahead of this start (the prescriber's, usually)."""
    since = now - timedelta(hours=ovr.STANDING_DECISION_HOURS)
    decisions = OverrideDecision.objects.filter(
        course=course, standing=True, signed_at__gte=since, signed_at__lte=now
    )
    standing = [
        ovr.StandingDecision(code, d.signed_at, d.bp_systolic, d.bp_diastolic)
        for d in decisions
        for code in d.codes
    ]
    return {
        r.code
        for r in reasons
        if any(
            ovr.standing_covers(
                s, code=r.code, now=now, bp_systolic=day.bp_systolic,
                bp_diastolic=day.bp_diastolic,
            )
            for s in standing
        )
    }  # fmt: skip


def _refuse(reasons, outcome: ovr.OverrideOutcome, table: dict, covered=()) -> GateBlocked:
    """Every reason, each with who may override it and why the asker may not."""
    why = {id(f.reason): (f.authority.value, f.why_not) for f in outcome.refusals}
    explanations = {}
    for i, r in enumerate(reasons):
        if id(r) in why:
            explanations[i] = why[id(r)]
        elif r.code in covered:
            explanations[i] = (
                ovr.rule_for(r.code, table).authority.value,
                "Covered by a signed decision; it passes once the rest is resolved.",
            )
    return GateBlocked(reasons, explanations=explanations)


def _decision_sign(
    *,
    actor: Membership,
    course: Course,
    licence: ClinicianLicence,
    signer: ovr.Signer,
    reasons: list[rules.Reason],
    overridden: list[rules.Reason],
    justifications: Mapping[str, ovr.Justification],
    day: rules.DoseDay | None,
    now: datetime,
    standing: bool,
    table: dict,
) -> OverrideDecision:
    """Sign the decision, put it on the timeline and in the audit trail."""
    codes = [r.code for r in overridden]
    authority = {ovr.rule_for(c, table).authority.value for c in codes}
    justified = {
        c: {"category": j.category, "rationale": j.rationale.strip()}
        for c in codes
        for j in [justifications[c]]
    }
    facts_seen = {
        "reasons": [{"code": r.code, "message": r.message} for r in reasons],
        "day": _day_data(day) if day is not None else None,
    }
    summary = "; ".join(f"{c}: {j['category']}: {j['rationale']}" for c, j in justified.items())
    event = _event(
        actor=actor, course=course, kind=EventKind.OVERRIDE, occurred_at=now, reason=summary,
        overridden=codes,
        data={"messages": [r.message for r in overridden], "standing": standing,
              "licence": f"{licence.licence_type} {licence.state} {licence.number}"},
    )  # fmt: skip
    decision = OverrideDecision(
        organisation=course.organisation, course=course, signed_by=actor, signed_at=now,
        authority=authority.pop() if len(authority) == 1 else "treating_clinician",
        licence_type=licence.licence_type, licence_state=licence.state,
        licence_number=licence.number, codes=codes, justifications=justified,
        facts_seen=facts_seen, standing=standing, event=event,
        bp_systolic=day.bp_systolic if day else None,
        bp_diastolic=day.bp_diastolic if day else None,
    )  # fmt: skip
    decision.full_clean()
    decision.save()
    event.data = {**event.data, "decision_id": decision.pk}
    event.save(update_fields=["data"])
    audit_record(
        actor=actor, action="course.gate_override", target=decision, client_id=course.client_id,
        changed_fields=codes,
    )  # fmt: skip
    return decision


def _dosing_gate(
    *,
    actor: Membership,
    course: Course,
    day: rules.DoseDay,
    overrides: Mapping[str, ovr.Justification] | None,
    now: datetime,
) -> list[rules.Reason]:
    """The one place the override table is applied to a start (the quick record, the
    session screen, their API endpoints and pages). Checks the whole gate with the day's
    facts under the course lock; reasons covered by a standing signed decision pass; the
    others pass only if the person starting owns each of them and justifies each
    (kapflow.clinical.overrides), which signs a decision. Otherwise refuses with every
    reason, who may override it and why this person may not. Returns the reasons passed."""
    _require_side(actor, course, rules.Side.THERAPIST)
    facts = course_facts(course)
    reasons = rules.dosing_reasons(facts, now=now, policy=gate_policy(course), day=day)
    reasons += _actor_licence_reasons(actor, course, now, reasons)
    if not reasons:
        return []
    table = _override_table(course)
    covered = _standing_codes(course, reasons, day, now)
    signer, licence = override_signer(actor, course, now)
    outcome = ovr.override_outcome(
        reasons, signer=signer, justifications=overrides or {}, table=table,
        covered_codes=covered,
    )  # fmt: skip
    if not outcome.passes:
        raise _refuse(reasons, outcome, table, covered)
    if outcome.overridden:
        _decision_sign(
            actor=actor, course=course, licence=licence, signer=signer, reasons=reasons,
            overridden=outcome.overridden, justifications=overrides, day=day, now=now,
            standing=False, table=table,
        )  # fmt: skip
    return outcome.covered + outcome.overridden


@transaction.atomic
def gate_override_sign(
    *,
    actor: Membership,
    course_id: int,
    overrides: Mapping[str, ovr.Justification],
    day: rules.DoseDay | None = None,
    now: datetime | None = None,
) -> OverrideDecision:
    """Sign an override ahead of the start (the prescriber's blood-pressure or clearance
    decision, usually): for reasons the gate gives now with the day's readings the signer
    saw. It covers starts within STANDING_DECISION_HOURS (blood pressure: no higher reading).
    Refuses (GateBlocked, 409) with every asked-for reason the signer may not override, and
    why; a code the gate does not give now is a 422."""
    now = now or clock.now()
    course = course_for_update(actor, course_id)
    if not overrides:
        raise ValidationError({"overrides": "Name the reasons to override."})
    facts = course_facts(course)
    reasons = rules.dosing_reasons(facts, now=now, policy=gate_policy(course), day=day)
    current = {r.code for r in reasons}
    unknown = sorted(set(overrides) - current)
    if unknown:
        raise ValidationError(
            {"overrides": f"The gate does not give these reasons now: {', '.join(unknown)}."}
        )
    asked = [r for r in reasons if r.code in overrides]
    table = _override_table(course)
    signer, licence = override_signer(actor, course, now)
    outcome = ovr.override_outcome(asked, signer=signer, justifications=overrides, table=table)
    if not outcome.passes:
        raise _refuse(asked, outcome, table)
    return _decision_sign(
        actor=actor, course=course, licence=licence, signer=signer, reasons=reasons,
        overridden=outcome.overridden, justifications=overrides, day=day, now=now,
        standing=True, table=table,
    )  # fmt: skip


def _day_data(day: rules.DoseDay) -> dict:
    return {
        "bp_systolic": day.bp_systolic,
        "bp_diastolic": day.bp_diastolic,
        "alcohol_free_24h": day.alcohol_free_24h,
        "companion_present": day.companion_present,
        "driver_confirmed": day.driver_confirmed,
    }


@transaction.atomic
def dosing_start(
    *,
    actor: Membership,
    course_id: int,
    day: rules.DoseDay,
    overrides: Mapping[str, ovr.Justification] | None = None,
    amount_mg: Decimal | None = None,
    now: datetime | None = None,
) -> CourseEvent:
    """The quick record of a dosing session (the course page's form and the courses API):
    check the whole gate again with the day's vitals and attestations, record the dosing on
    the timeline and use one dose. A reason passes only if a standing signed decision covers
    it or the person starting owns it and justifies it (`overrides`: code -> Justification;
    decision 0029). The session screen (kapflow.encounters) checks
    with `dosing_gate_check` at its start and records the dosing when the dose is given.

    `amount_mg` is the amount given, checked against the prescription's per-session amount
    (decision 0030); the page and the API require it, and a caller that omits it records
    the prescription's amount."""
    now = now or timezone.now()
    course = course_for_update(actor, course_id)
    soft = _dosing_gate(actor=actor, course=course, day=day, overrides=overrides, now=now)
    event = _event(
        actor=actor, course=course, kind=EventKind.DOSING, occurred_at=now,
        overridden=[r.code for r in soft], data=_day_data(day),
    )  # fmt: skip
    # The gate above saw doses left, under the course lock: one dose is taken from the
    # oldest active prescription with doses left, which may raise a refill request, and
    # an amount above its per-session amount is refused.
    dose_use_for_session(actor=actor, course=course, event=event, now=now, amount_mg=amount_mg)
    course_facts_refresh(course_id=course.pk)
    audit_record(
        actor=actor, action="course.dosing_start", target=event, client_id=course.client_id
    )
    return event


def dosing_gate_check(
    *,
    actor: Membership,
    course: Course,
    day: rules.DoseDay,
    overrides: Mapping[str, ovr.Justification] | None = None,
    now: datetime,
) -> list[str]:
    """The session screen's start: the whole gate, with the day's facts, on a course the
    caller locked (course_for_update) in its transaction. Refuses with every reason
    (GateBlocked) or signs the override decision and returns the codes passed. Nothing is
    counted as a dosing until the dose is given (dose_given_record)."""
    soft = _dosing_gate(actor=actor, course=course, day=day, overrides=overrides, now=now)
    audit_record(
        actor=actor, action="course.dosing_gate_passed", target=course,
        client_id=course.client_id,
    )  # fmt: skip
    return [r.code for r in soft]


def _start_overrides_holding(
    course: Course, overridden, day: rules.DoseDay, started_at: datetime
) -> set[str]:
    """The codes overridden at the start that still hold for the day's facts at the first
    dose. Blood pressure holds only while the day's reading is no higher than the one a
    decision covering the start saw (ovr.standing_covers, judged at the start's time): a
    standing decision signed within STANDING_DECISION_HOURS before the start, or the
    decision signed at the start itself."""
    held = set(overridden)
    if "vitals.bp_high" not in held:
        return held
    since = started_at - timedelta(hours=ovr.STANDING_DECISION_HOURS)
    decisions = OverrideDecision.objects.filter(
        course=course, signed_at__gte=since, signed_at__lte=started_at
    ).filter(Q(standing=True) | Q(signed_at=started_at))
    covering = [
        ovr.StandingDecision("vitals.bp_high", d.signed_at, d.bp_systolic, d.bp_diastolic)
        for d in decisions
        if "vitals.bp_high" in (d.codes or [])
    ]
    if not any(
        ovr.standing_covers(
            s, code="vitals.bp_high", now=started_at, bp_systolic=day.bp_systolic,
            bp_diastolic=day.bp_diastolic,
        )
        for s in covering
    ):  # fmt: skip
        held.discard("vitals.bp_high")
    return held


def dose_given_record(
    *,
    actor: Membership,
    course: Course,
    now: datetime,
    day: rules.DoseDay,
    overridden: list[str] = (),
    data: dict | None = None,
    amount_mg: Decimal | None = None,
    unit: str = "mg",
    occurred_at: datetime | None = None,
    started_at: datetime | None = None,
):
    """The first dose of a session given: the dosing goes on the course timeline (what the
    gate's dosing count, integration and follow-up deadlines read) and one dose is used from
    the oldest active prescription, refused above its per-session amount (decision 0030).
    The caller holds the course lock (course_for_update) in its transaction, and passes the
    session as `day.session_id` so that its own open session does not block it. Returns
    (event, dose use).

    `now` is when the dose is recorded (the gate runs then); `occurred_at` is the clinical
    time of the dose (default `now`), which dates the dosing event and the dose used, and
    the minimum interval since the last dose is checked at it too. `started_at` is the
    session's start, whose overrides are re-checked against the day's facts.

    The whole gate is checked again with the day's facts (the caller passes the latest blood
    pressure read before the dose): something may have changed since the start (consent
    withdrawn, a positive screen, the last dose used elsewhere, a higher reading). Hard
    reasons refuse, and so does an actor without a current licence in the client's state;
    soft ones pass only if they were overridden at the start and, for blood pressure, the
    reading is no higher than the signed decision saw."""
    occurred_at = occurred_at or now
    facts = course_facts(course)
    policy_ = gate_policy(course)
    reasons = rules.dosing_reasons(facts, now=now, policy=policy_, day=day)
    if occurred_at < now and "dosing.too_soon" not in {r.code for r in reasons}:
        reasons += [
            r
            for r in rules.one_at_a_time_reasons(facts, now=occurred_at, policy=policy_, day=day)
            if r.code == "dosing.too_soon"
        ]
    reasons += _actor_licence_reasons(actor, course, now, reasons)
    hard, soft = rules.split_hard(reasons)
    held = _start_overrides_holding(course, overridden, day, started_at or now)
    if hard or any(r.code not in held for r in soft):
        table = _override_table(course)
        lapsed = set(overridden) - held
        explanations = {
            i: (
                ovr.rule_for(r.code, table).authority.value,
                "The decision signed for the start covered a reading no higher than the one "
                "its signer saw; this one is higher. End this session and start again with "
                "the new reading.",
            )
            for i, r in enumerate(reasons)
            if r.code in lapsed
        }
        raise GateBlocked(reasons, explanations=explanations)
    event = _event(
        actor=actor, course=course, kind=EventKind.DOSING, occurred_at=occurred_at,
        overridden=list(overridden), data=_day_data(day) | (data or {}),
    )  # fmt: skip
    use = dose_use_for_session(
        actor=actor, course=course, event=event, now=occurred_at, amount_mg=amount_mg,
        unit=unit,
    )  # fmt: skip
    course_facts_refresh(course_id=course.pk)
    audit_record(
        actor=actor, action="course.dosing_start", target=event, client_id=course.client_id
    )
    return event, use


@dataclass(frozen=True)
class ScanResult:
    raised: int
    resolved: int
    notified: int


# Deadlines raised as soon as they exist, whatever their date: a dosing session's integration
# session (72 h) and the week-after check-in appear on the dashboard when the session ends.
RAISE_AT_ONCE = frozenset({"integration.due", "integration.checkin"})


def _wanted_items(courses, *, organisation_id: int, now: datetime):
    """The due items the rules want for these courses (annotated by with_facts), and who
    should hear of each."""
    horizon = now + timedelta(days=1)
    wanted: dict[tuple, DueItem] = {}
    recipients: dict[tuple, set[int]] = {}
    for course in courses:
        facts = course_facts(course)
        for item in rules.deadlines(facts, now=now, policy=gate_policy(course)):
            if item.due_at is None:
                continue
            if item.due_at > horizon and item.code not in RAISE_AT_ONCE:
                continue
            key = (course.pk, item.code, item.due_at, item.overdue)
            wanted[key] = DueItem(
                organisation_id=organisation_id, course=course, code=item.code,
                label=item.label, due_at=item.due_at, overdue=item.overdue, raised_at=now,
            )  # fmt: skip
            people = {course.therapist.user_id}
            if item.code == "followup.due" and course.prescriber_id:
                people.add(course.prescriber.user_id)
            recipients[key] = people
    return wanted, recipients


def _sync_items(*, existing_qs, wanted: dict, now: datetime) -> tuple[list[tuple], int]:
    existing = set(existing_qs.values_list("course_id", "code", "due_at", "overdue"))
    new_keys = [k for k in wanted if k not in existing]
    DueItem.objects.bulk_create([wanted[k] for k in new_keys], ignore_conflicts=True)
    resolved = 0
    for course_id, code, due_at, overdue in (k for k in existing if k not in wanted):
        resolved += DueItem.objects.filter(
            course_id=course_id, code=code, due_at=due_at, overdue=overdue,
            resolved_at__isnull=True,
        ).update(resolved_at=now)  # fmt: skip
    return new_keys, resolved


def deadline_scan(*, organisation_id: int, now: datetime | None = None) -> ScanResult:
    """Raise due (within a day) and overdue deadlines of an organisation's open courses as
    DueItems, resolve items no longer due, and e-mail each clinician a count and a link.

    Idempotent: a DueItem is unique per course, code, due time and overdue flag, so running
    the scan twice raises nothing new. E-mails carry no PHI.
    """
    from collections import Counter

    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    now = now or timezone.now()
    courses = with_facts(
        Course.objects.filter(organisation_id=organisation_id).exclude(stage__in=CLOSED_VALUES)
    ).order_by("id")
    wanted, recipients = _wanted_items(
        courses.iterator(chunk_size=500), organisation_id=organisation_id, now=now
    )
    with transaction.atomic():
        new_keys, resolved = _sync_items(
            existing_qs=DueItem.objects.filter(
                organisation_id=organisation_id, resolved_at__isnull=True
            ),
            wanted=wanted,
            now=now,
        )
    per_person = Counter(uid for k in new_keys for uid in recipients[k])
    from kapflow.accounts.models import User

    link = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("courses:dashboard")
    for user in User.objects.filter(pk__in=per_person, is_active=True):
        count = per_person[user.pk]
        send_mail(
            subject=f"kapflow: {count} new due or overdue item{'s' if count != 1 else ''}",
            message=(
                f"You have {count} new due or overdue item{'s' if count != 1 else ''} in "
                f"your kapflow caseload.\n\nOpen your caseload: {link}\n"
            ),
            from_email=None,
            recipient_list=[user.email],
            fail_silently=True,
        )
    return ScanResult(raised=len(new_keys), resolved=resolved, notified=len(per_person))


def due_items_refresh(*, course_id: int, now: datetime | None = None) -> int:
    """Bring one course's due items up to date at once (a dosing session or an integration
    session just ended), inside the caller's transaction. Returns how many were raised.
    The nightly scan does the same for every course and sends the e-mails."""
    now = now or timezone.now()
    course = with_facts(Course.objects.filter(pk=course_id)).get()
    wanted = {}
    if course.closed_at is None:
        wanted, _ = _wanted_items([course], organisation_id=course.organisation_id, now=now)
    new_keys, _ = _sync_items(
        existing_qs=DueItem.objects.filter(course_id=course_id, resolved_at__isnull=True),
        wanted=wanted,
        now=now,
    )
    return len(new_keys)


@transaction.atomic
def gate_settings_update(*, actor: Membership, data: dict) -> GateSettings:
    """Change the practice's gate thresholds (practice admins). Audited with the field names."""
    if not policy.can_manage_practice_settings(actor):
        raise NotFound()
    settings_row, _ = GateSettings.objects.select_for_update().get_or_create(
        organisation=actor.organisation
    )
    changed = [f for f, v in data.items() if getattr(settings_row, f) != v]
    for field, value in data.items():
        setattr(settings_row, field, value)
    settings_row.full_clean()
    settings_row.save()
    audit_record(
        actor=actor, action="gate_settings.update", target=settings_row, changed_fields=changed
    )
    return settings_row


def risk_screen_from_assessment(
    *,
    course_id: int,
    positive: bool,
    occurred_at: datetime,
    response_id: int,
    instrument: str,
    actor: Membership | None,
) -> CourseEvent:
    """Put a scored safety screen (PHQ-9 item 9, C-SSRS) on the course timeline, where the
    dosing gate reads it. Called by kapflow.assessments inside its own transaction."""
    course = Course.objects.select_for_update().get(pk=course_id)
    event = CourseEvent(
        organisation=course.organisation, course=course, kind=EventKind.RISK_SCREEN,
        occurred_at=occurred_at, actor=actor.user if actor else None, actor_membership=actor,
        positive=positive, data={"response_id": response_id, "instrument": instrument},
    )  # fmt: skip
    event.full_clean()
    event.save()
    course_facts_refresh(course_id=course.pk)
    return event


def consent_event_record(
    *,
    actor: Membership,
    client_id: int,
    kind: str,
    occurred_at: datetime,
    reason: str = "",
    data: dict | None = None,
) -> CourseEvent | None:
    """Put a consent signature or withdrawal on the client's open course timeline (if there
    is one). Called by kapflow.consents.services inside its own transaction; the gate itself
    reads the signatures, not these events."""
    if kind not in {EventKind.CONSENT_SIGNED, EventKind.CONSENT_WITHDRAWN}:
        raise ValueError(kind)
    course = (
        Course.objects.select_for_update()
        .filter(client_id=client_id, closed_at__isnull=True)
        .first()
    )
    if course is None:
        return None
    event = CourseEvent(
        organisation=course.organisation, course=course, kind=kind, occurred_at=occurred_at,
        actor=actor.user, actor_membership=actor, reason=reason, data=data or {},
    )  # fmt: skip
    event.full_clean()
    event.save()
    return event


def risk_assessment_record(
    *,
    actor: Membership,
    course_id: int,
    note: str,
    occurred_at: datetime | None = None,
    data: dict | None = None,
) -> CourseEvent:
    """A clinician's structured risk assessment that clears a positive screen for dosing,
    called only by kapflow.assessments.services.urgent_task_resolve once the assessment is
    complete and its decision is "proceed" (decision 0029): recorded as a negative risk
    screen with the assessment in its reason."""
    course = course_for_update(actor, course_id)
    if not policy.can_override_gate(actor, course):
        raise PermissionDenied("A risk assessment is for the course's clinicians.")
    event = _event(
        actor=actor, course=course, kind=EventKind.RISK_SCREEN, occurred_at=occurred_at,
        positive=False, reason=note, data={"clinician_risk_assessment": True, **(data or {})},
    )  # fmt: skip
    course_facts_refresh(course_id=course.pk)
    return event
