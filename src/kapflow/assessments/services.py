"""Assessment write paths: assign, save a draft, submit, correct, send a one-time link,
and resolve the urgent task a positive safety screen raises.

Scoring and the safety rules come from kapflow.clinical.instruments. A positive safety screen,
in the same transaction as the submission: raises an UrgentTask for the client's therapists,
puts a positive risk screen on the course timeline (so the dosing gate blocks), and after
commit e-mails the care team a link, never the answers.
"""

import logging
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import ClinicianLicence, Membership, hash_secret
from kapflow.assessments.models import (
    Assignment,
    MeasurementPlan,
    Response,
    ResponseLink,
    Schedule,
    Source,
    UrgentTask,
)
from kapflow.assessments.urgent import urgent_facts_refresh, urgent_task_raise
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import instruments
from kapflow.clinical import overrides as ovr
from kapflow.core import clock
from kapflow.core.bounds import DateKind, check_instant
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)

SAFETY_INSTRUMENTS = frozenset({"phq9", "cssrs"})
LINK_DAYS = 7


def _instrument(code: str):
    try:
        return instruments.get(code)
    except KeyError as exc:
        raise ValidationError({"instrument": "Choose an instrument from the list."}) from exc


def _clean_answers(instrument, answers) -> dict[str, int]:
    """Answers as {item_id: int}; every problem names its item."""
    if not isinstance(answers, dict):
        raise ValidationError({"answers": "Send the answers as item: value pairs."})
    cleaned, errors = {}, {}
    for key, value in answers.items():
        if value in ("", None):
            continue
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.strip().isdecimal())
        ):
            # true, 2.7 or "two" are not answers; int() would quietly make them 1, 2 or fail.
            errors[str(key)] = "Choose one of the answers."
            continue
        cleaned[str(key)] = int(value)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _raise_item_errors(found, *, default_field: str = "answers") -> None:
    if found:
        errors: dict[str, list[str]] = {}
        for err in found:
            errors.setdefault(err.item_id or default_field, []).append(err.message)
        raise ValidationError(errors)


def _client_for_staff(actor, client_id: int) -> Client:
    client = (
        policy.clients_queryset(actor).prefetch_related("care_team").filter(pk=client_id).first()
    )
    if client is None or not policy.can_see_scores(actor, client):
        # Billers see demographics, never questionnaires: not found, as for the reads.
        raise audit_not_found(
            actor=actor, model=Client, object_id=client_id, message="Client not found."
        )
    return client


def _open_course_id(client_id: int) -> int | None:
    from kapflow.courses.models import Course

    return (
        Course.objects.filter(client_id=client_id, closed_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )


@transaction.atomic
def assignment_create(
    *,
    actor: Membership,
    client_id: int,
    instrument: str,
    schedule: str = Schedule.ONCE,
    due_at: datetime | None = None,
) -> Assignment:
    """A clinician on the care team assigns an instrument to the client."""
    client = _client_for_staff(actor, client_id)
    if not policy.can_assess(actor, client):
        raise PermissionDenied("Only the client's clinicians assign questionnaires.")
    inst = _instrument(instrument)
    if inst.respondent != "self":
        raise ValidationError({"instrument": "This instrument is rated by the clinician."})
    if schedule not in Schedule.values:
        raise ValidationError({"schedule": "Choose when it is due."})
    if due_at is not None and due_at < timezone.now():
        raise ValidationError({"due_at": "The due date cannot be in the past."})
    # Ahead, but within the horizon (a due date in 9999 is a typing slip).
    due_at = check_instant(
        "due_at", due_at, organisation=client.organisation, kind=DateKind.PLANNED
    )
    assignment = Assignment(
        organisation=client.organisation, client=client, course_id=_open_course_id(client.pk),
        instrument=inst.code, schedule=schedule, due_at=due_at, assigned_by=actor,
    )  # fmt: skip
    assignment.full_clean()
    assignment.save()
    audit_record(actor=actor, action="assessment.assign", target=assignment, client_id=client.pk)
    return assignment


@transaction.atomic
def link_send(*, actor: Membership, assignment_id: int) -> ResponseLink:
    """E-mail the client a one-time link (opaque token; the page shows no PHI)."""
    assignment = (
        Assignment.objects.select_for_update()
        .filter(pk=assignment_id, client__in=policy.clients_queryset(actor))
        .select_related("client")
        .first()
    )
    if assignment is None or not policy.can_see_clinical(actor):
        raise audit_not_found(actor=actor, model=Assignment, object_id=assignment_id)
    if not assignment.is_open:
        raise DomainError("This questionnaire is already done.", code="assignment.closed")
    if not assignment.client.email:
        raise ValidationError({"email": "The client has no e-mail address on file."})
    link = ResponseLink.objects.create(
        assignment=assignment,
        token_hash=hash_secret(secrets.token_urlsafe(32)),
        expires_at=timezone.now() + timedelta(days=LINK_DAYS),
    )
    audit_record(
        actor=actor, action="assessment.link_send", target=link, client_id=assignment.client_id
    )
    from kapflow.assessments.notify import link_email

    link_id = link.pk
    transaction.on_commit(lambda: link_email.enqueue(link_id))
    return link


def link_assignment(*, token: str) -> tuple[ResponseLink, Assignment]:
    link = (
        ResponseLink.objects.select_related("assignment")
        .filter(token_hash=hash_secret(token))
        .first()
    )
    if (
        link is None
        or link.used_at is not None
        or link.expires_at <= timezone.now()
        or not link.assignment.is_open
    ):
        raise NotFound(
            "This link has expired or was already used. Ask your therapist for a new one."
        )
    return link, link.assignment


def _draft_for(assignment: Assignment) -> Response | None:
    return (
        Response.objects.select_for_update()
        .filter(assignment=assignment, submitted_at__isnull=True)
        .first()
    )


@transaction.atomic
def response_save(
    *,
    assignment_id: int,
    answers: dict,
    submit: bool,
    source: str,
    actor: Membership | None = None,
    token: str | None = None,
    now: datetime | None = None,
) -> Response:
    """Save the client's answers to an assignment: a draft (partial answers kept), or a
    submission (every required item present and in range, or every problem named)."""
    now = now or timezone.now()
    link = None
    if source == Source.LINK:
        link, assignment = link_assignment(token=token or "")
        if assignment.pk != assignment_id:
            raise audit_not_found(actor=actor, model=Assignment, object_id=assignment_id)
        assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
        link = ResponseLink.objects.select_for_update().get(pk=link.pk)
    else:
        assignment = Assignment.objects.select_for_update().filter(pk=assignment_id).first()
        if assignment is None or not policy.is_own_client_record(actor, assignment.client_id):
            raise audit_not_found(actor=actor, model=Assignment, object_id=assignment_id)
    if not assignment.is_open:
        raise DomainError("This questionnaire is already done.", code="assignment.closed")
    inst = _instrument(assignment.instrument)
    cleaned = _clean_answers(inst, answers)
    unknown = [e for e in inst.validate(cleaned) if e.code == "answer.unknown_item"]
    _raise_item_errors(unknown)
    response = _draft_for(assignment) or Response(
        organisation_id=assignment.organisation_id, client_id=assignment.client_id,
        course_id=assignment.course_id or _open_course_id(assignment.client_id),
        assignment=assignment, instrument=inst.code, source=source, started_at=now,
        entered_by=actor.user if actor else None,
    )  # fmt: skip
    response.answers = cleaned
    if not submit:
        response.save()
        audit_record(
            actor=actor, action="assessment.draft", target=response, client_id=response.client_id
        )
        return response
    _raise_item_errors(inst.validate(cleaned))
    _apply_score(response, inst, cleaned, now)
    response.save()
    assignment.completed_at = now
    assignment.save(update_fields=["completed_at"])
    if link is not None:
        link.used_at = now
        link.save(update_fields=["used_at"])
    audit_record(
        actor=actor, action="assessment.submit", target=response, client_id=response.client_id
    )
    _outcomes_refresh(response)
    _after_submit(response, actor=actor)
    return response


def _apply_score(response: Response, inst, answers: dict[str, int], now: datetime) -> None:
    _store_score(response, inst.score(answers), inst.safety(answers), answers, now)


def _store_score(response: Response, score, flags, answers: dict[str, int], now) -> None:
    """Keep the score and the safety conclusion as the rules gave them at submission."""
    response.answers = answers
    response.total = score.total
    response.band = score.band.label
    response.severity = score.band.severity
    response.detail = dict(score.detail)
    response.safety_flags = [
        {"code": f.code, "message": f.message, "level": f.level} for f in flags
    ]
    response.submitted_at = now


@transaction.atomic
def response_enter(
    *,
    actor: Membership,
    client_id: int,
    instrument: str,
    answers: dict | None = None,
    total: int | None = None,
    assignment_id: int | None = None,
    now: datetime | None = None,
) -> Response:
    """Staff enter a completed questionnaire on the client's behalf (paper, phone, in
    session), or a total score for an instrument whose licence allows only totals."""
    now = now or timezone.now()
    client = _client_for_staff(actor, client_id)
    if not policy.can_assess(actor, client):
        raise PermissionDenied("Only the client's clinicians enter questionnaires.")
    inst = _instrument(instrument)
    assignment = None
    if assignment_id is not None:
        assignment = (
            Assignment.objects.select_for_update()
            .filter(pk=assignment_id, client=client, instrument=inst.code)
            .first()
        )
        if assignment is None or not assignment.is_open:
            raise ValidationError({"assignment": "Choose an open questionnaire of this client."})
    response = Response(
        organisation=client.organisation, client=client, course_id=_open_course_id(client.pk),
        assignment=assignment, instrument=inst.code, source=Source.STAFF, entered_by=actor.user,
        started_at=now,
    )  # fmt: skip
    _score_into(response, inst, answers=answers, total=total, now=now)
    response.save()
    if assignment is not None:
        assignment.completed_at = now
        assignment.save(update_fields=["completed_at"])
    audit_record(actor=actor, action="assessment.enter", target=response, client_id=client.pk)
    _outcomes_refresh(response)
    _after_submit(response, actor=actor)
    return response


def _score_into(response, inst, *, answers, total, now) -> None:
    if inst.entry == instruments.Entry.TOTAL:
        _raise_item_errors(inst.validate_total(total), default_field="total")
        _store_score(response, inst.score_total(total), [], {}, now)
        return
    cleaned = _clean_answers(inst, answers or {})
    _raise_item_errors(inst.validate(cleaned))
    _apply_score(response, inst, cleaned, now)


@transaction.atomic
def response_correct(
    *,
    actor: Membership,
    response_id: int,
    reason: str,
    answers: dict | None = None,
    total: int | None = None,
    now: datetime | None = None,
) -> Response:
    """Correct a submitted response: a new response that references the old one, which
    stays as it was. Only the latest version of a response can be corrected."""
    now = now or timezone.now()
    old = (
        Response.objects.select_for_update()
        .filter(
            pk=response_id, client__in=policy.clients_queryset(actor), submitted_at__isnull=False
        )
        .select_related("client")
        .first()
    )
    if old is None or not policy.can_see_clinical(actor):
        raise audit_not_found(actor=actor, model=Response, object_id=response_id)
    client = Client.objects.prefetch_related("care_team").get(pk=old.client_id)
    if not policy.can_assess(actor, client):
        raise PermissionDenied("Only the client's clinicians correct questionnaires.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the answers are corrected."})
    if Response.objects.filter(corrects=old).exists():
        raise DomainError(
            "This response was already corrected; correct the newer one.",
            code="response.superseded",
        )
    inst = _instrument(old.instrument)
    new = Response(
        organisation_id=old.organisation_id, client=client, course_id=old.course_id,
        assignment=old.assignment, instrument=old.instrument, source=Source.STAFF,
        entered_by=actor.user, started_at=now, corrects=old, correction_reason=reason.strip()[:500],
    )  # fmt: skip
    _score_into(new, inst, answers=answers, total=total, now=now)
    new.submitted_at = old.submitted_at  # the correction stands for the same administration
    new.save()
    audit_record(actor=actor, action="assessment.correct", target=new, client_id=client.pk)
    _outcomes_refresh(new)
    _after_submit(new, actor=actor, correcting=old)
    return new


def _outcomes_refresh(response: Response) -> None:
    """The client's outcome summaries follow the submitted score in the same transaction
    (decision 0043), so the practice report never reads a stale one. Before _after_submit:
    the refresh locks the client row, and elsewhere the client is locked before its course."""
    from kapflow.outcomes.services import outcome_summary_refresh

    outcome_summary_refresh(client_id=response.client_id)


def _after_submit(
    response: Response, *, actor: Membership | None, correcting: Response | None = None
) -> None:
    """Safety: raise the urgent task and tell the course gate, inside the transaction.

    A correction may add a safety flag but never clears one: only a clinician's recorded
    risk assessment does (decision 0016). It raises no second task while one is open.
    """
    flags = response.safety_flags
    if correcting is None:
        from kapflow.notifications.services import notify
        from kapflow.patients.selectors import care_team_memberships

        # The care team learns in the app that answers came in (decision 0050).
        notify(
            recipients=care_team_memberships(client_id=response.client_id),
            kind="questionnaire_answered", route="assessments:response", object_id=response.pk,
            exclude_user_id=actor.user_id if actor is not None else None,
        )  # fmt: skip
    if correcting is not None:
        if not flags:
            return
        if UrgentTask.objects.filter(
            response__in=[correcting, *_earlier_versions(correcting)], resolved_at__isnull=True
        ).exists():
            return
    if response.instrument in SAFETY_INSTRUMENTS and response.course_id:
        from kapflow.courses.services import risk_screen_from_assessment

        risk_screen_from_assessment(
            course_id=response.course_id, positive=bool(flags), occurred_at=response.submitted_at,
            response_id=response.pk, instrument=response.instrument, actor=actor,
        )  # fmt: skip
    if not flags:
        return
    level = "high" if any(f["level"] == "high" for f in flags) else "moderate"
    urgent_task_raise(
        UrgentTask(
            organisation_id=response.organisation_id, client_id=response.client_id,
            course_id=response.course_id, response=response, codes=[f["code"] for f in flags],
            level=level,
        ),
        actor=actor,
    )  # fmt: skip


def _earlier_versions(response: Response) -> list[Response]:
    versions, current = [], response
    while current.corrects_id is not None:
        current = current.corrects
        versions.append(current)
    return versions


@transaction.atomic
def urgent_task_resolve(
    *,
    actor: Membership,
    task_id: int,
    decision: str,
    note: str,
    risk_level: str = "",
    protective_factors_reviewed: bool = False,
    safety_plan_reviewed: bool = False,
    means_restriction_discussed: bool = False,
    downgrade_rationale: str = "",
    now: datetime | None = None,
) -> UrgentTask:
    """A licensed clinician on the care team signs the structured risk assessment that answers
    the task (kapflow.clinical.overrides.RiskAssessment; decision 0029): the risk level,
    protective factors and the safety plan reviewed with the client, means restriction
    discussed, the decision and its rationale (`note`). Only that closes the task: free text
    alone is refused. "Proceed" (never at a high risk level, never on the clinical date a
    high-level task was raised, and below the task's level only with `downgrade_rationale`)
    clears the course's dosing gate for this screen; "hold" and "higher care" keep it
    blocked until a later "proceed" reassessment (`urgent_task_reassess`)."""
    now = now or timezone.now()
    task = _task_for_assessment(actor, task_id)
    licence, assessment = _check_assessment(
        actor, task, decision=decision, note=note, risk_level=risk_level,
        protective_factors_reviewed=protective_factors_reviewed,
        safety_plan_reviewed=safety_plan_reviewed,
        means_restriction_discussed=means_restriction_discussed,
        downgrade_rationale=downgrade_rationale, now=now,
    )  # fmt: skip
    if task.resolved_at is not None:
        raise DomainError("This task was already resolved.", code="urgent_task.resolved")
    _sign_assessment(
        actor, task, assessment, licence, downgrade_rationale=downgrade_rationale, now=now
    )
    urgent_facts_refresh(task)
    audit_record(actor=actor, action="urgent_task.resolve", target=task, client_id=task.client_id)
    return task


@transaction.atomic
def urgent_task_reassess(
    *,
    actor: Membership,
    task_id: int,
    decision: str,
    note: str,
    risk_level: str = "",
    protective_factors_reviewed: bool = False,
    safety_plan_reviewed: bool = False,
    means_restriction_discussed: bool = False,
    downgrade_rationale: str = "",
    now: datetime | None = None,
) -> UrgentTask:
    """A new structured risk assessment after a task was resolved "hold" or "higher care":
    the only way such a decision is lifted (decision 0029; a screen typed or scored since
    never clears it). It is a new task row, already resolved, that names the one it
    reassesses, so the first decision stays as it was signed. The same rules apply, with the
    original task's level and the clinical date it was raised."""
    now = now or timezone.now()
    first = _task_for_assessment(actor, task_id)
    while first.reassesses_id is not None:
        first = first.reassesses
    latest = (
        UrgentTask.objects.select_for_update()
        .filter(Q(pk=first.pk) | Q(reassesses=first))
        .order_by("-resolved_at", "-pk")
        .first()
    )
    licence, assessment = _check_assessment(
        actor, first, decision=decision, note=note, risk_level=risk_level,
        protective_factors_reviewed=protective_factors_reviewed,
        safety_plan_reviewed=safety_plan_reviewed,
        means_restriction_discussed=means_restriction_discussed,
        downgrade_rationale=downgrade_rationale, now=now,
    )  # fmt: skip
    if latest.resolved_at is None:
        raise DomainError(
            "This task is still open: record the risk assessment on it.", code="urgent_task.open"
        )
    if latest.decision == ovr.RiskDecision.PROCEED:
        raise DomainError(
            "The latest assessment of this screen already cleared it.",
            code="urgent_task.resolved",
        )
    task = UrgentTask(
        organisation_id=first.organisation_id, client_id=first.client_id,
        course_id=first.course_id, response_id=first.response_id,
        screen_event_id=first.screen_event_id, reassesses=first, codes=first.codes,
        level=first.level, created_at=now,
    )  # fmt: skip
    _sign_assessment(
        actor, task, assessment, licence, downgrade_rationale=downgrade_rationale, now=now
    )
    urgent_facts_refresh(task)
    audit_record(actor=actor, action="urgent_task.reassess", target=task, client_id=task.client_id)
    return task


def _task_for_assessment(actor: Membership, task_id: int) -> UrgentTask:
    task = (
        UrgentTask.objects.select_for_update()
        .filter(pk=task_id, client__in=policy.clients_queryset(actor))
        .first()
    )
    if task is None or not policy.can_see_clinical(actor):
        raise audit_not_found(actor=actor, model=UrgentTask, object_id=task_id)
    return task


def _check_assessment(
    actor: Membership, task: UrgentTask, *, decision, note, risk_level,
    protective_factors_reviewed, safety_plan_reviewed, means_restriction_discussed,
    downgrade_rationale, now: datetime,
):  # fmt: skip
    """The actor's licence and the structured assessment, or every problem named: the
    assessment's own rules and the task's (its level, the clinical date it was raised)."""
    client = (
        Client.objects.select_related("organisation")
        .prefetch_related("care_team")
        .get(pk=task.client_id)
    )
    if not policy.can_assess(actor, client):
        raise PermissionDenied("Only the client's clinicians record a risk assessment.")
    today = clock.clinical_date(client.organisation, now)
    licence = (
        ClinicianLicence.objects.filter(user_id=actor.user_id, state=client.state)
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        .order_by("pk")
        .first()
    )
    assessment = ovr.RiskAssessment(
        risk_level=risk_level or "", protective_factors_reviewed=bool(protective_factors_reviewed),
        safety_plan_reviewed=bool(safety_plan_reviewed),
        means_restriction_discussed=bool(means_restriction_discussed), decision=decision or "",
        rationale=(note or "").strip(),
    )  # fmt: skip
    problems = ovr.risk_assessment_problems(assessment, licensed=licence is not None)
    if "licence" in problems:
        raise PermissionDenied(problems.pop("licence"))
    for field, problem in ovr.task_assessment_problems(
        assessment, task_level=task.level, downgrade_rationale=downgrade_rationale,
        same_clinical_day=clock.clinical_date(client.organisation, task.created_at) >= today,
    ).items():  # fmt: skip
        problems.setdefault(field, problem)
    if problems:
        raise ValidationError({("note" if k == "rationale" else k): v for k, v in problems.items()})
    return licence, assessment


def _sign_assessment(
    actor: Membership, task: UrgentTask, assessment, licence, *, downgrade_rationale: str, now
) -> None:
    task.resolved_at, task.resolved_by = now, actor
    task.decision, task.assessment_note = assessment.decision, assessment.rationale
    task.risk_level = assessment.risk_level
    task.protective_factors_reviewed = assessment.protective_factors_reviewed
    task.safety_plan_reviewed = assessment.safety_plan_reviewed
    task.means_restriction_discussed = assessment.means_restriction_discussed
    task.downgrade_rationale = (downgrade_rationale or "").strip()
    task.licence_type, task.licence_state = licence.licence_type, licence.state
    task.licence_number = licence.number
    task.full_clean()
    task.save()
    if ovr.risk_assessment_clears_gate(assessment, licensed=True) and task.course_id:
        from kapflow.courses.services import risk_assessment_record

        risk_assessment_record(
            actor=actor, course_id=task.course_id, occurred_at=now,
            note=f"Risk assessment after a positive screen: {assessment.rationale}",
            data={"urgent_task_id": task.pk, "risk_level": assessment.risk_level,
                  "licence": f"{licence.licence_type} {licence.state} {licence.number}"},
        )  # fmt: skip


@transaction.atomic
def plan_create(*, actor: Membership, client_id: int, instrument: str) -> MeasurementPlan:
    """Put the client's open course on the KAP measurement schedule for an instrument and
    ask for whatever is already due (the baseline, at least)."""
    from kapflow.courses.models import Course

    client = _client_for_staff(actor, client_id)
    if not policy.can_assess(actor, client):
        raise PermissionDenied("Only the client's clinicians assign questionnaires.")
    inst = _instrument(instrument)
    if inst.respondent != "self":
        raise ValidationError({"instrument": "This instrument is rated by the clinician."})
    course = Course.objects.filter(client=client, closed_at__isnull=True).first()
    if course is None:
        raise DomainError(
            "A measurement schedule follows a course; open a course first.", code="course.none"
        )
    if MeasurementPlan.objects.filter(
        course=course, instrument=inst.code, ended_at__isnull=True
    ).exists():
        raise DomainError("This schedule is already running.", code="plan.exists")
    plan = MeasurementPlan.objects.create(
        organisation=client.organisation, client=client, course=course, instrument=inst.code,
        created_by=actor,
    )  # fmt: skip
    audit_record(actor=actor, action="assessment.plan", target=plan, client_id=client.pk)
    _materialise(plan, now=timezone.now())
    return plan


def _materialise(plan: MeasurementPlan, *, now: datetime, dosing_times=None) -> int:
    from kapflow.clinical.measurement import plan_occasions
    from kapflow.courses.models import CourseEvent

    if dosing_times is None:
        dosing_times = list(
            CourseEvent.objects.filter(course_id=plan.course_id, kind="dosing").values_list(
                "occurred_at", flat=True
            )
        )
    occasions = plan_occasions(started_at=plan.created_at, dosing_times=dosing_times, now=now)
    created = Assignment.objects.bulk_create(
        [
            Assignment(
                organisation_id=plan.organisation_id,
                client_id=plan.client_id,
                course_id=plan.course_id,
                instrument=plan.instrument,
                schedule=o.schedule,
                plan=plan,
                occasion=o.key,
                assigned_by_id=plan.created_by_id,
                assigned_at=now,
                due_at=None if o.schedule == "pre_dosing" else o.opens_at,
            )
            for o in occasions
        ],
        ignore_conflicts=True,
    )
    return len(created)


def measurement_scan(*, organisation_id: int, now: datetime | None = None) -> int:
    """Ask for every newly opened occasion of the organisation's running plans; end plans
    whose course closed. Idempotent (one assignment per plan and occasion)."""
    from collections import defaultdict

    from kapflow.courses.models import CourseEvent

    now = now or timezone.now()
    plans = list(
        MeasurementPlan.objects.filter(
            organisation_id=organisation_id, ended_at__isnull=True
        ).select_related("course")
    )
    MeasurementPlan.objects.filter(
        pk__in=[p.pk for p in plans if p.course.closed_at is not None]
    ).update(ended_at=now)
    running = [p for p in plans if p.course.closed_at is None]
    dosings = defaultdict(list)
    for course_id, at in CourseEvent.objects.filter(
        course_id__in=[p.course_id for p in running], kind="dosing"
    ).values_list("course_id", "occurred_at"):
        dosings[course_id].append(at)
    before = Assignment.objects.filter(organisation_id=organisation_id, plan__isnull=False).count()
    for plan in running:
        _materialise(plan, now=now, dosing_times=dosings[plan.course_id])
    return (
        Assignment.objects.filter(organisation_id=organisation_id, plan__isnull=False).count()
        - before
    )
