"""What each role's home page shows, composed from the selectors that own each rule.

Nothing here decides who may see what: every list starts from kapflow.policy's querysets or
from another app's selector (alerts, notes, messaging, scheduling, prescriptions, billing,
courses, directory). Each dashboard issues a fixed number of queries whatever the practice's
size, and every client it names is audited (`dashboard.view`, one INSERT per page through
audit_batch, which the view opens).

"Today" is the practice's day (decision 0027): the same for every clinician of the practice,
whatever zone their browser is in. A dosing session that is open now is today's work even
when it was not booked as an appointment (the demo's session in progress was not), which is
why the therapist's list reads the sessions as well as the appointments.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import JSONField, OuterRef, Q, Subquery
from django.urls import reverse

from kapflow import policy
from kapflow.audit.services import audit_record_many
from kapflow.core import clock

TODAY_LIMIT = 20
SECTION_LIMIT = 6


def practice_day(organisation, now: datetime) -> tuple[date, datetime, datetime]:
    """The practice's date at `now`, and that day's bounds as aware instants."""
    zone = clock.clinical_zone(organisation)
    day = clock.clinical_date(organisation, now)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return day, start, end


@dataclass
class TodayItem:
    starts_at: datetime
    kind_label: str
    client: object | None  # a Client, or None when the viewer may not see who it is
    url: str
    status: str  # "in_session" / "checklist" / "scheduled" / "cancelled" / "completed"
    status_label: str
    flag_reading: str = ""  # e.g. "BP 184/102" for a flagged blood pressure
    flag_messages: list[str] = field(default_factory=list)
    appointment_id: int | None = None

    @property
    def in_progress(self) -> bool:
        return self.status in ("in_session", "checklist")


def _reading(data: dict) -> str:
    parts = []
    if data.get("bp_systolic") and data.get("bp_diastolic"):
        parts.append(f"BP {data['bp_systolic']}/{data['bp_diastolic']}")
    if data.get("heart_rate"):
        parts.append(f"HR {data['heart_rate']}")
    if data.get("spo2"):
        parts.append(f"SpO₂ {data['spo2']}%")
    return ", ".join(parts)


def open_sessions_today(*, actor, mine_only: bool = True) -> list[TodayItem]:
    """Open dosing sessions the actor may see (their own courses' or ones they opened, unless
    `mine_only` is off), each with its latest flagged vital signs still standing. One query."""
    from kapflow.encounters.models import OPEN_STATES, SessionState, TimelineEntry

    flagged = TimelineEntry.objects.filter(
        session_id=OuterRef("pk"), kind="vitals", flagged=True, struck=False,
        corrected_by__isnull=True,
    ).order_by("-occurred_at", "-id")  # fmt: skip
    qs = policy.dosing_sessions_queryset(actor).filter(state__in=OPEN_STATES)
    if mine_only:
        qs = qs.filter(Q(course__therapist=actor) | Q(opened_by_id=actor.user_id))
    sessions = list(
        qs.select_related("client")
        .annotate(
            flag_data=Subquery(flagged.values("data")[:1], output_field=JSONField()),
            flag_flags=Subquery(flagged.values("flags")[:1], output_field=JSONField()),
        )
        .order_by("-started_at", "-opened_at", "-id")[:TODAY_LIMIT]
    )
    items = []
    for s in sessions:
        running = s.state == SessionState.IN_PROGRESS
        items.append(
            TodayItem(
                starts_at=s.started_at or s.opened_at,
                kind_label=f"Dosing session, {s.get_delivery_display().lower()}",
                client=s.client,
                url=s.get_absolute_url(),
                status="in_session" if running else "checklist",
                status_label="In session" if running else "Checklist open",
                flag_reading=_reading(s.flag_data or {}),
                flag_messages=[f.get("message", "") for f in (s.flag_flags or []) if f],
                appointment_id=s.appointment_id,
            )
        )
    audit_record_many(
        actor=actor, action="dashboard.view", targets=sessions, client_attr="client_id"
    )
    return items


def appointments_today(*, actor, now: datetime) -> list[TodayItem]:
    """The actor's own appointments of the practice's day (scheduling's selector: two
    queries and its own audit rows)."""
    from kapflow.scheduling.models import AppointmentStatus
    from kapflow.scheduling.selectors import appointments_for_member

    _, start, end = practice_day(actor.organisation, now)
    appointments = appointments_for_member(
        actor=actor, membership=actor, starts_at=start, ends_at=end
    )
    items = []
    for appt in appointments:
        if appt.status == AppointmentStatus.CANCELLED:
            continue
        shown = [p for p in appt.participants.all() if p.client_id and p.shown]
        items.append(
            TodayItem(
                starts_at=appt.starts_at,
                kind_label=appt.get_kind_display(),
                client=shown[0].client if shown else None,
                url=reverse("scheduling:detail", args=[appt.pk]),
                status=appt.status,
                status_label=appt.get_status_display(),
                appointment_id=appt.pk,
            )
        )
    return items


@dataclass
class TherapistHome:
    day: date
    zone_name: str
    today: list[TodayItem]
    alerts: list
    alert_count: int
    drafts: list
    cosign: list
    unread_messages: int
    due_items: list
    urgent_tasks: list

    @property
    def notes_count(self) -> int:
        return len(self.drafts) + len(self.cosign)

    @property
    def tasks_count(self) -> int:
        return len(self.due_items) + len(self.urgent_tasks)


def therapist_home(*, actor, now: datetime | None = None) -> TherapistHome:
    """The clinician's today: what is open now first (a flagged reading on top), then the
    day's appointments by time; open alerts; notes to sign; unread messages; tasks due."""
    from kapflow.alerts.selectors import open_alerts
    from kapflow.assessments.selectors import urgent_tasks_open
    from kapflow.courses.selectors import open_due_items
    from kapflow.messaging.selectors import unread_total
    from kapflow.notes.models import NoteStatus
    from kapflow.notes.selectors import cosign_queue

    now = now or clock.now()
    day, _, _ = practice_day(actor.organisation, now)
    sessions = open_sessions_today(actor=actor)
    # An open session with a flagged reading first, then the other open ones, then the day
    # (an appointment whose session is open is that session, shown once).
    sessions.sort(key=lambda i: (not i.flag_reading, i.status != "in_session"))
    running = {i.appointment_id for i in sessions} - {None}
    today = sessions + [
        i for i in appointments_today(actor=actor, now=now) if i.appointment_id not in running
    ]
    drafts = list(
        policy.notes_queryset(actor)
        .filter(author=actor, status=NoteStatus.DRAFT)
        .select_related("client")
        .order_by("created_at", "id")[:SECTION_LIMIT]
    )
    due = list(open_due_items(actor=actor, limit=SECTION_LIMIT))
    audit_record_many(actor=actor, action="note.list", targets=drafts, client_attr="client_id")
    audit_record_many(
        actor=actor, action="dashboard.view", targets=[d.course for d in due],
        client_attr="client_id",
    )  # fmt: skip
    urgent = urgent_tasks_open(actor=actor, limit=SECTION_LIMIT)
    audit_record_many(actor=actor, action="dashboard.view", targets=urgent, client_attr="client_id")
    return TherapistHome(
        day=day,
        zone_name=clock.clinical_zone(actor.organisation).key,
        today=today,
        alerts=open_alerts(actor=actor, limit=SECTION_LIMIT),
        alert_count=policy.alerts_queryset(actor).filter(acknowledged_at__isnull=True).count(),
        drafts=drafts,
        cosign=cosign_queue(actor=actor) if policy.can_see_clinical(actor) else [],
        unread_messages=unread_total(actor=actor),
        due_items=due,
        urgent_tasks=urgent,
    )


@dataclass
class PracticeGlance:
    day: date
    zone_name: str
    appointments_today: int
    open_sessions: list[TodayItem]
    open_alerts: int
    overdue_items: int
    due_items: int
    unsigned_notes: int
    inquiries_waiting: int
    billing: dict


def practice_glance(*, actor, now: datetime | None = None) -> PracticeGlance:
    """The practice at a glance for its admin: counts only, besides the sessions open now
    (which name their clients, audited like the therapist's)."""
    from kapflow.courses.models import DueItem
    from kapflow.directory.models import Inquiry, InquiryStatus
    from kapflow.notes.models import Note, NoteStatus
    from kapflow.scheduling.models import AppointmentStatus

    now = now or clock.now()
    org = actor.organisation
    day, start, end = practice_day(org, now)
    due = (
        DueItem.objects.for_org(org)
        .filter(resolved_at__isnull=True)
        .aggregate(
            n_overdue=_count(Q(overdue=True)),
            n_due=_count(Q(overdue=False)),
        )
    )
    inquiries = (
        Inquiry.objects.for_org(org).filter(status=InquiryStatus.CONFIRMED).count()
        if policy.can_work_inquiries(actor)
        else 0
    )
    from kapflow.billing.selectors import biller_home

    return PracticeGlance(
        day=day,
        zone_name=clock.clinical_zone(org).key,
        appointments_today=policy.appointments_queryset(actor)
        .filter(starts_at__gte=start, starts_at__lt=end)
        .exclude(status__in=[AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED])
        .count(),
        open_sessions=open_sessions_today(actor=actor, mine_only=False),
        open_alerts=policy.alerts_queryset(actor).filter(acknowledged_at__isnull=True).count(),
        overdue_items=due["n_overdue"] or 0,
        due_items=due["n_due"] or 0,
        unsigned_notes=Note.objects.for_org(org).filter(status=NoteStatus.DRAFT).count(),
        inquiries_waiting=inquiries,
        billing=biller_home(actor=actor),
    )


def _count(condition: Q):
    from django.db.models import Count

    return Count("id", filter=condition)


@dataclass
class CompanionNext:
    companions: list
    next_session: object | None


def companion_home(*, actor, now: datetime | None = None) -> CompanionNext:
    """The companion's clients (first names only through the template) and the next at-home
    session they attend: two queries."""
    from kapflow.patients.selectors import companion_links
    from kapflow.scheduling.selectors import upcoming_for_companion

    companions = list(companion_links(user=actor.user).order_by("id"))
    upcoming = upcoming_for_companion(actor=actor, now=now or clock.now(), limit=1)
    return CompanionNext(companions=companions, next_session=upcoming[0] if upcoming else None)
