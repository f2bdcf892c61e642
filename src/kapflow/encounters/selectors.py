"""Read paths for dosing sessions: the session screen's state, the group screen's rows, and
the client's and companion's own session pages.

Every staff read starts from kapflow.policy.dosing_sessions_queryset (another organisation's
session, or one the actor may not see, is "not found") and writes an audit row. The screen's
state is built from one query for the session, one for its timeline and one for its
checklist answers, whatever the number of entries; the group screen adds one query per
relation, whatever the number of clients.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch

from kapflow import policy
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.clinical import session as rules
from kapflow.clinical.reasons import Reason
from kapflow.core.errors import NotFound
from kapflow.encounters.models import (
    ChecklistResponse,
    DosingSession,
    EntryKind,
    EntrySource,
    GroupSession,
    Respondent,
    SessionSettings,
    TimelineEntry,
)
from kapflow.patients import grants

# Criteria the clinician attests at discharge; the others are computed from the timeline.
ATTESTED = frozenset(
    {
        "discharge.not_alert",
        "discharge.not_walking",
        "discharge.no_driver",
        "discharge.no_companion",
    }
)


def session_policy(organisation_id: int) -> rules.SessionPolicy:
    """The practice's in-session thresholds, or the defaults (one query)."""
    s = SessionSettings.objects.filter(organisation_id=organisation_id).first()
    if s is None:
        return rules.SessionPolicy()
    return policy_from_settings(s)


def policy_from_settings(s: SessionSettings) -> rules.SessionPolicy:
    return rules.SessionPolicy(
        bp_systolic_flag=s.bp_systolic_flag,
        bp_diastolic_flag=s.bp_diastolic_flag,
        heart_rate_high=s.heart_rate_high,
        heart_rate_low=s.heart_rate_low,
        spo2_low=s.spo2_low,
        recheck_minutes=tuple(int(m) for m in s.recheck_minutes or ()),
        companion_check_minutes=s.companion_check_minutes,
        observation_minutes_in_person=s.observation_minutes_in_person,
        observation_minutes_at_home=s.observation_minutes_at_home,
        start_valid_minutes=s.start_valid_minutes,
    )


def _session_qs():
    return DosingSession.objects.select_related(
        "client", "course__therapist__user", "course__organisation", "group", "appointment",
        "started_by", "ended_by",
    ).prefetch_related(
        Prefetch(
            "client__care_team",
            queryset=grants.open_grants(),
        )
    )  # fmt: skip


@dataclass(frozen=True)
class SessionContext:
    """What the clinician needs in view beside the timeline: the client's allergies (from
    the latest medical evaluation of the course), the prescribed dose the session draws on,
    the emergency contact and who takes the client home."""

    allergies: str | None  # None: no evaluation recorded them
    prescription: object | None  # prescriptions.Prescription, or None
    per_session_mg: object | None
    authorised_mg: object | None
    emergency_name: str
    emergency_relationship: str
    emergency_phone: str
    companions: list = field(default_factory=list)  # [(name, relationship)]


def session_context(*, session: DosingSession) -> SessionContext:
    """The session screen's client panel: four queries at most, whatever the record holds
    (the allowance's two, the prescription, the evaluation, the companions). Read as part
    of the screen, which is audited as dosing_session.view."""
    from kapflow.patients.models import Companion
    from kapflow.prescriptions.models import MedicalEvaluation, Prescription
    from kapflow.prescriptions.selectors import session_allowance

    allowance = session_allowance(course=session.course, dosing_event_id=session.dose_event_id)
    prescription = (
        Prescription.objects.filter(pk=allowance.prescription_id).first() if allowance else None
    )
    allergies = (
        MedicalEvaluation.objects.filter(course_id=session.course_id)
        .order_by("-evaluated_on", "-id")
        .values_list("allergies", flat=True)
        .first()
    )
    companions = [
        (str(c.user), c.relationship)
        # Confirmed companions only: someone invited but not confirmed is not the escort.
        for c in Companion.objects.filter(client_id=session.client_id, confirmed_at__isnull=False)
        .select_related("user")
        .order_by("id")
    ]
    client = session.client
    return SessionContext(
        allergies=allergies,
        prescription=prescription,
        per_session_mg=allowance.per_session_mg if allowance else None,
        authorised_mg=allowance.authorised_mg if allowance else None,
        emergency_name=client.emergency_contact_name,
        emergency_relationship=client.emergency_contact_relationship,
        emergency_phone=client.emergency_contact_phone,
        companions=companions,
    )


def session_get_for_actor(
    *, actor, session_id: int, audit_action: str = "dosing_session.view"
) -> DosingSession:
    """A session the actor may see, with its course, client and care team; else NotFound."""
    session = (
        _session_qs()
        .filter(pk=session_id, pk__in=policy.dosing_sessions_queryset(actor).values("pk"))
        .first()
    )
    if session is None:
        raise _session_not_found(actor, session_id)
    _share_client(session)
    if audit_action:
        audit_record(actor=actor, action=audit_action, target=session, client_id=session.client_id)
    return session


def session_for_update(*, actor, session_id: int) -> DosingSession:
    """Lock the session row (a staff write path), then load it with what the rules need."""
    locked = (
        policy.dosing_sessions_queryset(actor)
        .select_for_update(of=("self",))
        .filter(pk=session_id)
        .values_list("pk", flat=True)
        .first()
    )
    if locked is None:
        raise _session_not_found(actor, session_id)
    return _share_client(_session_qs().get(pk=locked))


def _session_not_found(actor, session_id):
    return audit_not_found(
        actor=actor, model=DosingSession, object_id=session_id, message="Session not found."
    )


def _share_client(session: DosingSession) -> DosingSession:
    # The course's client is the session's: share the object, so the policy reads the care
    # team prefetched on it instead of querying again.
    session.course.client = session.client
    return session


def session_for_party_update(*, actor, session_id: int) -> DosingSession:
    """Lock the session for the client's or companion's own write (portal); anyone else is
    told "not found"."""
    if actor is None:
        raise NotFound("Session not found.")
    locked = (
        DosingSession.objects.for_org(actor.organisation)
        .select_for_update(of=("self",))
        .filter(pk=session_id)
        .values_list("pk", flat=True)
        .first()
    )
    if locked is None:
        raise _session_not_found(actor, session_id)
    session = DosingSession.objects.select_related("client", "course").get(pk=locked)
    if not (
        policy.is_session_client(actor, session) or policy.is_session_companion(actor, session)
    ):
        raise _session_not_found(actor, session_id)
    return session


def session_for_party(*, actor, session_id: int) -> tuple[DosingSession, str]:
    """The client's or companion's view of their session: (session, "client"/"companion")."""
    if actor is None:
        raise NotFound("Session not found.")
    session = (
        DosingSession.objects.for_org(actor.organisation)
        .select_related("client", "organisation")
        .filter(pk=session_id)
        .first()
    )
    if session is not None:
        if policy.is_session_client(actor, session):
            return session, Respondent.CLIENT
        if policy.is_session_companion(actor, session):
            return session, Respondent.COMPANION
    raise _session_not_found(actor, session_id)


def open_sessions_for_party(*, actor) -> list[DosingSession]:
    """The open sessions the signed-in client (their own) or companion (their clients'
    at-home ones) may answer a checklist or read vitals out for, newest first."""
    from kapflow.encounters.models import OPEN_STATES
    from kapflow.patients.models import Companion

    if actor is None:
        return []
    qs = DosingSession.objects.for_org(actor.organisation).filter(state__in=OPEN_STATES)
    if policy.is_client_actor(actor):
        return list(qs.filter(client__user_id=actor.user_id).order_by("-opened_at"))
    if policy.is_companion_actor(actor):
        clients = Companion.objects.filter(user_id=actor.user_id).values("client_id")
        return list(
            qs.filter(client_id__in=clients, delivery="at_home")
            .select_related("client")
            .order_by("-opened_at")
        )
    return []


# ---- the session's state ------------------------------------------------------------------


@dataclass
class EntryRow:
    entry: TimelineEntry
    superseded_by: TimelineEntry | None = None

    @property
    def effective(self) -> bool:
        return self.superseded_by is None and not self.entry.struck


@dataclass
class SessionState:
    session: DosingSession
    policy: rules.SessionPolicy
    now: datetime
    rows: list[EntryRow] = field(default_factory=list)
    checklist: dict[str, ChecklistResponse] = field(default_factory=dict)

    # Derived once, in build().
    dose_at: datetime | None = None
    schedule: rules.VitalsSchedule = field(default_factory=rules.VitalsSchedule)
    last_vitals: TimelineEntry | None = None
    computed_reasons: list[Reason] = field(default_factory=list)

    @property
    def effective(self) -> list[TimelineEntry]:
        return [r.entry for r in self.rows if r.effective]

    @property
    def flagged(self) -> bool:
        return self.last_vitals is not None and self.last_vitals.flagged

    @property
    def checklist_done(self) -> bool:
        client = self.checklist.get(Respondent.CLIENT)
        companion = self.checklist.get(Respondent.COMPANION)
        done = client is not None and client.complete
        if self.session.at_home:
            done = done and companion is not None and companion.complete
        return done

    @property
    def ready_for_discharge(self) -> bool:
        """Every criterion computed from the timeline holds (the clinician still attests
        alert and oriented, walking, and the escort)."""
        return self.session.state == "in_progress" and not self.computed_reasons

    def discharge_reasons(
        self, *, alert_oriented=False, walks_steadily=False, escort_present=False
    ) -> list[Reason]:
        return rules.discharge_reasons(
            self.discharge_facts(
                alert_oriented=alert_oriented,
                walks_steadily=walks_steadily,
                escort_present=escort_present,
            ),
            now=self.now,
            policy=self.policy,
        )

    def discharge_facts(self, **attested) -> rules.DischargeFacts:
        vitals = in_session_vitals(self.effective)
        return rules.DischargeFacts(
            at_home=self.session.at_home,
            dose_at=self.dose_at,
            readings=[timed_reading(e) for e in vitals],
            **attested,
        )


def timed_reading(entry: TimelineEntry) -> rules.TimedReading:
    """The entry's reading for discharge: which parameters it measured and which of them its
    stored flags (judged when it was recorded) name."""
    data = entry.data
    reading = rules.Reading(
        bp_systolic=data.get("bp_systolic"),
        bp_diastolic=data.get("bp_diastolic"),
        heart_rate=data.get("heart_rate"),
        spo2=data.get("spo2"),
    )
    flagged = rules.flagged_parameters(f.get("code") for f in entry.flags or [])
    if entry.flagged and not flagged:  # a flag this code does not know: hold every parameter
        flagged = rules.measured_parameters(reading) or frozenset(rules.PARAMETERS)
    return rules.TimedReading(entry.occurred_at, rules.measured_parameters(reading), flagged)


def in_session_vitals(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Vitals taken during the session; the pre-dose reading belongs to the gate."""
    return [e for e in entries if e.kind == EntryKind.VITALS and e.data.get("phase") != "pre_dose"]


def build_state(
    session: DosingSession,
    *,
    now: datetime,
    entries: list[TimelineEntry],
    checklist: list[ChecklistResponse],
    session_rules: rules.SessionPolicy,
) -> SessionState:
    """The session's state from its rows (no query)."""
    by_corrected = {e.corrects_id: e for e in entries if e.corrects_id}
    rows = [EntryRow(e, by_corrected.get(e.pk)) for e in entries]
    latest: dict[str, ChecklistResponse] = {}
    for response in sorted(checklist, key=lambda r: (r.answered_at, r.pk)):
        latest[response.respondent] = response
        if response.respondent == Respondent.CLINICIAN:
            # A clinician's answers record the client's word (by phone, in the room).
            latest[Respondent.CLIENT] = response
    state = SessionState(session, session_rules, now, rows, latest)
    effective = state.effective
    doses = [e for e in effective if e.kind == EntryKind.DOSE]
    state.dose_at = min((e.occurred_at for e in doses), default=None)
    vitals = in_session_vitals(effective)
    if vitals:
        state.last_vitals = max(vitals, key=lambda e: (e.occurred_at, e.pk))
    checks = [
        e.occurred_at
        for e in effective
        if e.kind == EntryKind.OBSERVATION and e.source == EntrySource.COMPANION
    ]
    state.schedule = rules.vitals_due(
        state.dose_at,
        [e.occurred_at for e in vitals],
        now,
        session_rules,
        at_home=session.at_home,
        companion_checks_at=checks,
    )
    state.computed_reasons = [r for r in state.discharge_reasons() if r.code not in ATTESTED]
    return state


def _entries_qs():
    return TimelineEntry.objects.select_related("recorded_by").order_by("occurred_at", "id")


def session_state(*, session: DosingSession, now: datetime) -> SessionState:
    """The screen's state: the timeline, checklist answers, due vitals, flags and what still
    stands between the client and discharge. Three queries."""
    entries = list(_entries_qs().filter(session=session))
    checklist = list(ChecklistResponse.objects.filter(session=session))
    return build_state(
        session,
        now=now,
        entries=entries,
        checklist=checklist,
        session_rules=session_policy(session.organisation_id),
    )


# ---- groups -------------------------------------------------------------------------------


def group_get_for_actor(
    *, actor, group_id: int, audit_action: str = "group_session.view"
) -> GroupSession:
    group = (
        policy.group_sessions_queryset(actor)
        .filter(pk=group_id)
        .select_related("room", "appointment")
        .first()
    )
    if group is None:
        raise audit_not_found(
            actor=actor, model=GroupSession, object_id=group_id, message="Group session not found."
        )
    if audit_action:
        audit_record(actor=actor, action=audit_action, target=group)
    return group


def group_rows(*, actor, group: GroupSession, now: datetime) -> list[SessionState]:
    """One state per client session of the group that the actor may see, by client name.
    A fixed number of queries whatever the group's size."""
    sessions = list(
        policy.dosing_sessions_queryset(actor)
        .filter(group=group)
        .select_related("client", "course")
        .prefetch_related(
            Prefetch("entries", queryset=_entries_qs()),
            "checklist_responses",
        )
        .order_by("client__legal_last_name", "client__legal_first_name", "id")
    )
    session_rules = session_policy(group.organisation_id)
    return [
        build_state(
            s,
            now=now,
            entries=list(s.entries.all()),
            checklist=list(s.checklist_responses.all()),
            session_rules=session_rules,
        )
        for s in sessions
    ]


def group_audit(*, actor, action: str, targets: list) -> None:
    """One audit row per client shown on the group screen (its sessions or attendees), in one
    INSERT."""
    if targets:
        audit_record_many(actor=actor, action=action, targets=targets, client_attr="client_id")


def group_attendees(*, actor, group: GroupSession) -> list:
    """An integration group's clients whose course the actor may see, by name (one query)."""
    from kapflow.encounters.models import GroupAttendee

    return list(
        GroupAttendee.objects.filter(
            group=group, course_id__in=policy.courses_queryset(actor).values("pk")
        )
        .select_related("client", "integration_event")
        .order_by("client__legal_last_name", "client__legal_first_name", "id")
    )


def group_clinicians(group: GroupSession) -> list:
    return list(group.clinicians.select_related("user").order_by("user__full_name"))


def sessions_for_course(*, actor, course, limit: int = 10) -> list[DosingSession]:
    """The course's latest dosing sessions the actor may see, newest first, for the course
    page (one query; the course page audits the course read)."""
    return list(
        DosingSession.objects.filter(
            course=course, pk__in=policy.dosing_sessions_queryset(actor).values("pk")
        )
        .select_related("group")
        .order_by("-opened_at", "-id")[:limit]
    )


@dataclass
class SessionAlarms:
    """What the client and the companion raised that the open session screen shows at once."""

    alerts: list = field(default_factory=list)
    checkins: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.alerts or self.checkins)


# The screen shows at most this many check-ins (the newest); the course page keeps the rest.
CHECKINS_SHOWN = 10


def session_alarms(*, actor, session: DosingSession) -> SessionAlarms:
    """The open alerts for the session's client (the companion's or the client's "Need help
    now", reaction reports: alerts.selectors.open_alerts_for_course, audited per alert) and
    the companion's check-ins since the session opened, newest first, for the screen's live
    region. Nothing for a closed session. Two SELECTs and at most one audit INSERT, whatever
    the number of rows (decision 0025: the poll must stay cheap)."""
    from kapflow.alerts.selectors import open_alerts_for_course
    from kapflow.patients.models import CompanionCheckin

    if not session.is_open:
        return SessionAlarms()
    alerts = open_alerts_for_course(actor=actor, course=session.course, limit=10)
    checkins = list(
        CompanionCheckin.objects.filter(
            course_id=session.course_id, recorded_at__gte=session.opened_at
        )
        .select_related("companion__user")
        .order_by("-recorded_at", "-id")[:CHECKINS_SHOWN]
    )
    return SessionAlarms(alerts, checkins)
