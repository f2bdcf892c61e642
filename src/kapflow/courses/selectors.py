"""Read paths for courses: the dashboards, the course page, the API and the deadline scan
share them. Every fact the gates read is one annotation of with_facts, computed from the rows
(the course page, the gates and the scan read them so); the caseload reads the same values
as stored by the write paths (CourseFacts, decision 0042), so a page of it is one indexed
query whatever the practice's size. Nothing here writes but audit rows.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    DateField,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import ClinicianLicence
from kapflow.assessments.models import UrgentTask
from kapflow.audit.services import audit_access_denied, audit_record, audit_record_many
from kapflow.clinical import course as rules
from kapflow.consents.selectors import gate_annotations as consent_annotations
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.core.paging import BoundedPage, bounded_page, bounded_page_of, page_number
from kapflow.core.querytemplate import QueryTemplate
from kapflow.core.timezones import organisation_zone
from kapflow.courses.models import (
    CLOSED_VALUES,
    FACT_FIELDS,
    Course,
    CourseEvent,
    CourseFacts,
    DueItem,
    GateSettings,
    OverrideDecision,
)
from kapflow.encounters.models import DosingSession, TimelineEntry
from kapflow.patients import grants
from kapflow.patients.models import Companion
from kapflow.prescriptions.models import Dispense, DoseUse, Prescription

logger = logging.getLogger(__name__)

PAGE_SIZE = 25

SORTS = {
    # Pipeline order of the stages (not alphabetical): Course.stage_rank, a stored column.
    "stage": ("stage_rank", "stage_changed_at", "id"),
    "recent": ("-stage_changed_at", "-id"),
    "oldest": ("stage_changed_at", "id"),
    "name": ("client__legal_last_name", "client__legal_first_name", "id"),
    "opened": ("-opened_at", "-id"),
}


def _last(kind: str, column: str = "occurred_at"):
    return Subquery(
        CourseEvent.objects.filter(course=OuterRef("pk"), kind=kind)
        .order_by("-occurred_at", "-id")
        .values(column)[:1]
    )


def _previous(kind: str):
    """The second-latest event of a kind (the one before the last)."""
    return Subquery(
        CourseEvent.objects.filter(course=OuterRef("pk"), kind=kind)
        .order_by("-occurred_at", "-id")
        .values("occurred_at")[1:2]
    )


def _integrations_since_last_dosing():
    """Integration sessions recorded at or after the latest dosing (the 72-hour session and
    the week-after check-in)."""
    last_dosing = (
        CourseEvent.objects.filter(course=OuterRef(OuterRef("pk")), kind="dosing")
        .order_by("-occurred_at", "-id")
        .values("occurred_at")[:1]
    )
    return Coalesce(
        Subquery(
            CourseEvent.objects.filter(
                course=OuterRef("pk"), kind="integration", occurred_at__gte=Subquery(last_dosing)
            )
            .order_by()
            .values("course")
            .annotate(n=Count("id"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _count(kind: str):
    return Coalesce(
        Subquery(
            CourseEvent.objects.filter(course=OuterRef("pk"), kind=kind)
            .order_by()
            .values("course")
            .annotate(n=Count("id"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _licensed_until(member_field: str):
    """The latest expiry among the member's licences in the client's state (9999-12-31 for
    one that never expires), or None: compared with the course's clinical date in Python,
    so a list of courses from several practices reads each in its own zone (0027)."""
    return Subquery(
        ClinicianLicence.objects.filter(
            user_id=OuterRef(f"{member_field}__user_id"), state=OuterRef("client__state")
        )
        .annotate(until=Coalesce("expires_on", Value(date.max)))
        .order_by("-until")
        .values("until")[:1],
        output_field=DateField(),
    )


def _unanswered_urgent_task():
    """A safety-screen task on the course with no "proceed" in its chain of assessments (the
    task itself or a reassessment of it): open, or held, or referred to higher care."""
    proceeded = UrgentTask.objects.filter(
        Q(pk=OuterRef("pk")) | Q(reassesses=OuterRef("pk")), decision="proceed"
    )
    return Exists(
        UrgentTask.objects.filter(course=OuterRef("pk"), reassesses__isnull=True).exclude(
            Exists(proceeded)
        )
    )


def _last_screen_id(condition: Q):
    """The latest recorded risk screen matching `condition` (by id: the order of recording,
    so a screen typed later with an earlier time still comes after the assessment)."""
    return Subquery(
        CourseEvent.objects.filter(condition, course=OuterRef("pk"), kind="risk_screen")
        .order_by("-id")
        .values("id")[:1]
    )


def screen_unanswered(course: Course) -> bool:
    """Whether the course's screen reads positive for the gate (annotated by with_facts)."""
    return bool(course.open_urgent_task) or (
        course.last_positive_screen_id is not None
        and (
            course.last_risk_assessment_id is None
            or course.last_risk_assessment_id < course.last_positive_screen_id
        )
    )


def with_facts(qs: QuerySet) -> QuerySet:
    """Annotate every fact kapflow.clinical.course needs (see course_facts)."""
    anchor = Subquery(
        CourseEvent.objects.filter(course=OuterRef("pk"), kind="dosing")
        .order_by("occurred_at", "id")
        .values("occurred_at")[rules.GatePolicy.followup_after_dosings - 1 :][:1]
    )
    return qs.select_related(
        "client", "therapist__user", "prescriber__user", "organisation__gate_settings"
    ).annotate(
        preparation_done=_count("preparation"),
        dosing_count=_count("dosing"),
        last_dosing_at=_last("dosing"),
        previous_dosing_at=_previous("dosing"),
        followup_anchor_at=anchor,
        last_integration_at=_last("integration"),
        integrations_since_last_dosing=_integrations_since_last_dosing(),
        last_followup_at=_last("followup"),
        # One dosing at a time (decision 0030): the session in progress, and the latest dose
        # on any session's timeline (boosters too; a struck-out dose still counts, which
        # only errs towards waiting). Quick records have no timeline: last_dosing_at.
        open_session_id=Subquery(
            DosingSession.objects.filter(course=OuterRef("pk"), state="in_progress")
            .order_by()
            .values("pk")[:1]
        ),
        last_session_dose_at=Subquery(
            TimelineEntry.objects.filter(session__course=OuterRef("pk"), kind="dose")
            .order_by("-occurred_at")
            .values("occurred_at")[:1]
        ),
        last_screen_at=_last("risk_screen"),
        last_screen_positive=_last("risk_screen", "positive"),
        # A positive screen stays positive, whatever was screened since (typed or scored),
        # until a structured risk assessment decides "proceed" (decisions 0016, 0029): while
        # its urgent task is open or was resolved "hold" / "higher care" with no "proceed"
        # reassessment, and while no "proceed" assessment was recorded after it.
        open_urgent_task=_unanswered_urgent_task(),
        last_positive_screen_id=_last_screen_id(Q(positive=True)),
        last_risk_assessment_id=_last_screen_id(
            Q(positive=False, data__clinician_risk_assessment=True)
        ),
        # A correlated "first id" rather than EXISTS: PostgreSQL turns an uncorrelated-looking
        # EXISTS into a hashed subplan over every active prescription of every practice.
        active_prescription_id=Subquery(
            Prescription.objects.filter(course=OuterRef("pk"), status="active")
            .order_by()
            .values("pk")[:1]
        ),
        # Doses dispensed and used under the active prescriptions (kapflow.prescriptions):
        # medicine already dispensed stays usable after the fill window closes.
        doses_authorised=Coalesce(
            Subquery(
                Dispense.objects.filter(
                    prescription__course=OuterRef("pk"), prescription__status="active"
                )
                .order_by()
                .values("prescription__course")
                .annotate(n=Sum("quantity"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        ),
        doses_used=Coalesce(
            Subquery(
                DoseUse.objects.filter(course=OuterRef("pk"), prescription__status="active")
                .order_by()
                .values("course")
                .annotate(n=Count("id"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        ),
        companion_confirmed=Exists(
            Companion.objects.filter(client=OuterRef("client"), confirmed_at__isnull=False)
        ),
        therapist_licensed_until=_licensed_until("therapist"),
        prescriber_licensed_until=_licensed_until("prescriber"),
        # The client's signatures of the practice's current consent documents
        # (kapflow.consents): the KAP consent's versions and withdrawal, and telehealth.
        **consent_annotations(),
    )


def course_facts_drift(
    *, organisation_id: int | None = None, course_ids=None, chunk_size: int = 2000
) -> dict[int, list[str]]:
    """The courses whose stored facts (CourseFacts) differ from the facts computed from
    the rows, with the differing field names ("missing" when there is no stored row). For
    `kapflow refresh_course_facts` and the tests; reads in chunks, writes nothing."""
    qs = Course.objects.all()
    if organisation_id is not None:
        qs = qs.filter(organisation_id=organisation_id)
    if course_ids is not None:
        qs = qs.filter(pk__in=course_ids)
    drift = {}
    for course in with_facts(qs).select_related("facts").order_by("pk").iterator(chunk_size):
        try:
            stored = course.facts
        except CourseFacts.DoesNotExist:
            drift[course.pk] = ["missing"]
            continue
        fields = [f for f in FACT_FIELDS if getattr(stored, f) != getattr(course, f)]
        if fields:
            drift[course.pk] = fields
    return drift


def gate_policy(course: Course) -> rules.GatePolicy:
    """The practice's thresholds (select_related by with_facts), or the defaults."""
    try:
        s: GateSettings = course.organisation.gate_settings
    except GateSettings.DoesNotExist:
        return rules.GatePolicy()
    return rules.GatePolicy(
        bp_systolic_max=s.bp_systolic_max,
        bp_diastolic_max=s.bp_diastolic_max,
        screen_valid_days=s.screen_valid_days,
        integration_hours=s.integration_hours,
        followup_grace_days=s.followup_grace_days,
        followup_interval_days=s.followup_interval_days,
        override_authority=tuple(sorted((s.override_authority or {}).items())),
        dose_interval_hours=s.dose_interval_hours,
    )


def course_facts(course: Course, *, now: datetime | None = None) -> rules.CourseFacts:
    """The rules' view of a course annotated by with_facts (no queries). `now` only dates
    the licences: the rules read every other instant themselves."""
    zone_name = organisation_zone(course.organisation)
    today = clock.clinical_date(course.organisation, now)
    return rules.CourseFacts(
        stage=rules.Stage(course.stage),
        pathway=rules.Pathway(course.pathway),
        delivery=rules.Delivery(course.delivery),
        client_state=course.client.state,
        client_birth_date=course.client.date_of_birth,
        prescriber_assigned=course.prescriber_id is not None,
        eligibility=course.eligibility or None,
        clearance_on=course.clearance_on,
        clearance_valid_days=course.clearance_valid_days,
        prescription_active=course.active_prescription_id is not None,
        doses_authorised=course.doses_authorised,
        doses_used=course.doses_used,
        **consent_facts(course),
        preparation_done=course.preparation_done,
        last_screen_at=course.last_screen_at,
        last_screen_positive=True if screen_unanswered(course) else course.last_screen_positive,
        companion_confirmed=course.companion_confirmed,
        therapist_licensed=_current(course.therapist_licensed_until, today),
        prescriber_licensed=_current(course.prescriber_licensed_until, today),
        dosing_count=course.dosing_count,
        last_dosing_at=course.last_dosing_at,
        previous_dosing_at=course.previous_dosing_at,
        open_session_id=course.open_session_id,
        last_dose_at=max(
            (t for t in (course.last_dosing_at, course.last_session_dose_at) if t), default=None
        ),
        followup_anchor_at=course.followup_anchor_at,
        last_integration_at=course.last_integration_at,
        integrations_since_last_dosing=course.integrations_since_last_dosing,
        last_followup_at=course.last_followup_at,
        clinical_zone=zone_name,
    )


def _current(licensed_until, today) -> bool:
    return licensed_until is not None and licensed_until >= today


def consent_facts(course: Course) -> dict:
    """The consent facts from the annotations of with_facts: the client's latest KAP consent
    signature against the current version, and the current telehealth consent."""
    signed_version = course.kap_signed_version
    current_version = course.kap_current_version
    withdrawn = signed_version is not None and course.kap_withdrawn_at is not None
    standing = signed_version is not None and not withdrawn
    return {
        "consent_signed": standing
        and current_version is not None
        and signed_version == current_version,
        "consent_withdrawn": withdrawn,
        "consent_outdated": standing
        and current_version is not None
        and signed_version < current_version,
        "telehealth_consent_signed": bool(course.telehealth_signed),
    }


@dataclass(frozen=True)
class ConsentStatus:
    """The KAP consent as the course page and API show it."""

    status: str  # signed / outdated / withdrawn / missing
    signed_version: int | None
    current_version: int | None
    signed_at: datetime | None
    withdrawn_at: datetime | None
    telehealth_signed: bool


def consent_status(course: Course) -> ConsentStatus:
    """From the annotations of with_facts: no queries."""
    facts = consent_facts(course)
    if facts["consent_withdrawn"]:
        status = "withdrawn"
    elif facts["consent_signed"]:
        status = "signed"
    elif facts["consent_outdated"]:
        status = "outdated"
    else:
        status = "missing"
    return ConsentStatus(
        status=status,
        signed_version=course.kap_signed_version,
        current_version=course.kap_current_version,
        signed_at=course.kap_signed_at,
        withdrawn_at=course.kap_withdrawn_at,
        telehealth_signed=facts["telehealth_consent_signed"],
    )


@dataclass(frozen=True)
class CourseRow:
    """One course as the dashboards show it."""

    course: Course
    facts: rules.CourseFacts
    next_step: str
    blockers: list
    deadlines: list

    @property
    def overdue(self) -> bool:
        return any(d.overdue for d in self.deadlines)


def course_row(course: Course, *, now: datetime) -> CourseRow:
    facts = course_facts(course)
    policy_ = gate_policy(course)
    return CourseRow(
        course=course,
        facts=facts,
        next_step=rules.next_step(facts, now=now, policy=policy_),
        blockers=rules.blockers(facts, now=now, policy=policy_),
        deadlines=rules.deadlines(facts, now=now, policy=policy_),
    )


@dataclass(frozen=True)
class CourseFilters:
    stage: str = ""
    pathway: str = ""
    delivery: str = ""
    therapist: int | None = None
    status: str = "open"  # open / closed / all / overdue
    sort: str = "stage"
    page: int = 1
    # A client's name or number, posted (never in a URL, decision 0052); empty: no search.
    search: str = ""


def _caseload(
    *,
    status: str,
    sort: str,
    organisation_id: int,
    membership_id: int,
    now: datetime,
    stage: str = "",
    pathway: str = "",
    delivery: str = "",
    therapist: int | None = None,
    words: tuple[str, ...] = (),
    **scope,
) -> QuerySet:
    """The caseload's rows in order, before paging: a function of its arguments only, so
    that its compiled SQL can be bound again with another actor's values (_CASELOAD_ROWS)."""
    qs = policy.courses_scope(
        **scope, organisation_id=organisation_id, membership_id=membership_id, now=now
    )
    if status == "open":
        qs = qs.exclude(stage__in=CLOSED_VALUES)
    elif status == "closed":
        qs = qs.filter(stage__in=CLOSED_VALUES)
    elif status == "overdue":
        qs = qs.filter(
            Exists(
                DueItem.objects.filter(
                    course=OuterRef("pk"), overdue=True, resolved_at__isnull=True
                )
            )
        )
    for name, value in (("stage", stage), ("pathway", pathway), ("delivery", delivery)):
        if value:
            qs = qs.filter(**{name: value})
    if therapist:
        qs = qs.filter(therapist_id=therapist)
    for word in words:
        # As the client list searches (patients.selectors.client_list), names only.
        condition = (
            Q(client__legal_last_name__icontains=word)
            | Q(client__legal_first_name__icontains=word)
            | Q(client__preferred_name__icontains=word)
        )
        if word.isascii() and word.isdecimal() and len(word) < 12:
            condition |= Q(client_id=int(word))
        qs = qs.filter(condition)
    # The sort walks an index (course_org_stage_rank, course_org_stage_changed) and stops
    # after the page's rows; their facts are joined, not computed.
    order = SORTS.get(sort, SORTS["stage"])
    if stage and order == SORTS["stage"]:
        # Within one stage the rank is constant: the same order, from the stage's own index.
        order = ("stage_changed_at", "id")
    return with_stored_facts(qs.order_by(*order))


# The caseload's two queries compiled once per shape and bound per call (decision 0055):
# building and compiling them cost more CPU than PostgreSQL spends running them. Paging and
# the count's limit change the SQL's text, so they are shape; pages past TEMPLATED_PAGES and
# name searches (bound as `%word%`, which a template cannot bind) run the ORM as written.
_SCOPE_VALUES = ("organisation_id", "membership_id", "now")  # not every scope reads them
_CASELOAD_SHAPE = (
    "practice", "admin", "clinician", "may_list", "practice_admin", "status", "sort",
)  # fmt: skip
_CASELOAD_ROWS = QueryTemplate(
    lambda *, start, stop, **arguments: _caseload(**arguments)[start:stop],
    shape=(*_CASELOAD_SHAPE, "start", "stop"),
    optional=_SCOPE_VALUES,
)
_CASELOAD_COUNT = QueryTemplate(
    lambda *, limit, **arguments: (
        _caseload(**arguments).order_by().values_list("pk", flat=True)[:limit]
    ),
    shape=(*_CASELOAD_SHAPE, "limit"),
    optional=_SCOPE_VALUES,
)
TEMPLATED_PAGES = 40


def course_list(*, actor, filters: CourseFilters, now: datetime | None = None) -> BoundedPage:
    """One page of the actor's caseload (admins: every course of the practice): the rows
    with their stored facts in one indexed query, a count bounded at COUNT_CAP, one audit
    INSERT (decision 0042)."""
    if not policy.can_list_courses(actor):
        raise NotFound()
    now = now or timezone.now()
    arguments = {
        **policy.course_scope_shape(actor),
        "status": filters.status,
        "sort": filters.sort if filters.sort in SORTS else "stage",
        "organisation_id": actor.organisation_id,
        "membership_id": actor.pk,
        "now": clock.now(),
    }
    # Only the filters given are arguments: which ones are given is part of the query's shape.
    for name in ("stage", "pathway", "delivery", "therapist"):
        if getattr(filters, name):
            arguments[name] = getattr(filters, name)
    words = tuple(filters.search.split()[:4])
    if words or page_number(filters.page) > TEMPLATED_PAGES:
        qs = _caseload(**arguments, words=words)
        page = bounded_page(qs, number=filters.page, per_page=PAGE_SIZE)
    else:
        page = bounded_page_of(
            count=lambda limit: len(_CASELOAD_COUNT.list(**arguments, limit=limit)),
            rows=lambda start, stop: _CASELOAD_ROWS.list(**arguments, start=start, stop=stop),
            number=filters.page,
            per_page=PAGE_SIZE,
        )
    courses = attach_facts(page.object_list)
    page.object_list = [course_row(course, now=now) for course in courses]
    audit_record_many(
        actor=actor,
        action="course.list",
        targets=[row.course for row in page.object_list],
        client_attr="client_id",
    )
    return page


def with_stored_facts(qs: QuerySet) -> QuerySet:
    """What course_row needs, with the stored facts (CourseFacts) joined: pass the rows to
    attach_facts before course_facts reads them."""
    return qs.select_related(
        "client", "therapist__user", "prescriber__user", "organisation__gate_settings", "facts"
    )


def attach_facts(courses: list[Course]) -> list[Course]:
    """Give each course of with_stored_facts the fact attributes with_facts would have
    annotated, from its stored row. A course without one (its write path predates the
    table and nothing has refreshed it yet) gets them computed, in one more query, and is
    logged; reads write nothing, `kapflow refresh_course_facts` fills the gap."""
    missing = []
    for course in courses:
        try:
            stored = course.facts
        except CourseFacts.DoesNotExist:
            missing.append(course.pk)
            continue
        for name in FACT_FIELDS:
            setattr(course, name, getattr(stored, name))
    if missing:
        logger.warning("course_facts.missing", extra={"course_ids": missing})
        fresh = {c.pk: c for c in with_facts(Course.objects.filter(pk__in=missing))}
        for course in courses:
            if course.pk in fresh:
                for name in FACT_FIELDS:
                    setattr(course, name, getattr(fresh[course.pk], name))
    return courses


def course_get_for_actor(*, actor, course_id: int, audit_action: str = "course.view") -> Course:
    course = (
        with_facts(policy.courses_queryset(actor))
        .prefetch_related(
            Prefetch(
                "client__care_team",
                queryset=grants.open_grants().select_related(
                    "membership__user", "membership__organisation"
                ),
            )
        )
        .filter(pk=course_id)
        .first()
    )
    if course is None:
        audit_access_denied(actor=actor, model=Course, object_id=course_id)
        raise NotFound("Course not found.")
    if audit_action:
        audit_record(actor=actor, action=audit_action, target=course, client_id=course.client_id)
    return course


def course_timeline(*, course: Course) -> QuerySet[CourseEvent]:
    return (
        CourseEvent.objects.filter(course=course)
        .select_related("actor", "actor_membership__organisation")
        .order_by("-occurred_at", "-id")
    )


def courses_for_client(*, actor, client_id: int) -> list[Course]:
    return list(policy.courses_queryset(actor).filter(client_id=client_id).order_by("-opened_at"))


def open_due_items(*, actor, limit: int = 50) -> QuerySet[DueItem]:
    """Tasks raised by the deadline scan for the actor's visible courses, overdue first. A
    practice's own staff walk the practice's open items in that order (index
    due_item_open_by_org) until `limit` visible ones are found."""
    visible = policy.courses_queryset(actor)
    items = DueItem.objects.filter(
        Exists(visible.filter(pk=OuterRef("course_id"))), resolved_at__isnull=True
    )
    if actor is not None and actor.organisation.kind == "practice":
        # A practice's staff see only its own courses: the filter the index starts with.
        items = items.filter(organisation_id=actor.organisation_id)
    return items.select_related("course__client").order_by("-overdue", "due_at", "id")[:limit]


# ---- the practice's report of gate overrides (decision 0029) -------------------------------

OVERRIDE_PAGE_SIZE = 50


@dataclass(frozen=True)
class OverrideRow:
    """One signed override as the report shows it: signed_at is read in the practice's zone,
    and the zone is named."""

    decision: OverrideDecision
    signer: str
    licence: str
    signed_at_local: datetime
    zone: str
    reasons: list[dict]  # every reason the signer saw: code, message, overridden?
    justifications: list[dict]  # code, category, rationale


def override_row(decision: OverrideDecision) -> OverrideRow:
    zone_name = organisation_zone(decision.organisation)
    seen = (decision.facts_seen or {}).get("reasons") or []
    return OverrideRow(
        decision=decision,
        signer=decision.signed_by.user.full_name or decision.signed_by.user.email,
        licence=f"{decision.licence_type} {decision.licence_state} {decision.licence_number}",
        signed_at_local=decision.signed_at.astimezone(clock.clinical_zone(decision.organisation)),
        zone=zone_name,
        reasons=[{**r, "overridden": r["code"] in decision.codes} for r in seen],
        justifications=[{"code": code, **j} for code, j in (decision.justifications or {}).items()],
    )


def override_list(*, actor, page: int | str = 1) -> Page:
    """One page of the practice's signed overrides, newest first (practice admins). A fixed
    number of queries whatever the page holds; every decision shown is audited."""
    if not policy.can_view_override_report(actor):
        raise NotFound()
    qs = (
        OverrideDecision.objects.for_org(actor.organisation)
        .select_related("organisation", "signed_by__user", "course")
        .order_by("-signed_at", "-id")
    )
    result = Paginator(qs, OVERRIDE_PAGE_SIZE).get_page(page)
    decisions = list(result.object_list)
    for d in decisions:
        d.client_id = d.course.client_id
    audit_record_many(
        actor=actor, action="course.override_report", targets=decisions, client_attr="client_id"
    )
    result.object_list = [override_row(d) for d in decisions]
    return result
