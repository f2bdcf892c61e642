"""Read paths for alerts: open alerts for dashboards and the course page, one alert for
staff, the reporter's own view of what they sent, and who may report for which client.

Staff reads start from kapflow.policy.alerts_queryset and are audited (one row per alert
shown, in one INSERT). Each open-alert list is one SELECT whatever its length: the client,
course and reporter are joined, and whether the actor may acknowledge is annotated.
"""

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from kapflow import policy
from kapflow.alerts.models import Alert, Severity
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.clinical.reactions import SYMPTOM_BY_CODE
from kapflow.core.errors import NotFound
from kapflow.patients import grants
from kapflow.patients.models import Client

# Emergencies first, then urgent, then routine; newest first within each.
SEVERITY_ORDER = Case(
    When(severity=Severity.EMERGENCY, then=Value(0)),
    When(severity=Severity.URGENT, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def _for_staff(actor) -> QuerySet:
    on_team = grants.holds_grant(actor.pk, client="client_id")
    return (
        policy.alerts_queryset(actor)
        .select_related("client", "course", "raised_by", "acknowledged_by__user")
        .annotate(actor_on_team=on_team)
    )


def _open(qs: QuerySet) -> QuerySet:
    return qs.filter(acknowledged_at__isnull=True).order_by(SEVERITY_ORDER, "-raised_at", "-id")


def _with_permissions(actor, alerts: list[Alert]) -> list[Alert]:
    # Answered from the annotation: no query per alert.
    for alert in alerts:
        alert.can_acknowledge = policy.can_acknowledge_alert(actor, alert)
    return alerts


def open_alerts(*, actor, limit: int = 50) -> list[Alert]:
    """Open alerts of every client the actor may see, emergencies first (dashboards and the
    caseload). Empty for billers, clients and companions."""
    if actor is None:
        return []
    alerts = _with_permissions(actor, list(_open(_for_staff(actor))[:limit]))
    audit_record_many(actor=actor, action="alert.list", targets=alerts, client_attr="client_id")
    return alerts


def open_alerts_for_course(*, actor, course, limit: int = 50) -> list[Alert]:
    """Open alerts for the course's client raised on this course, or when no course was
    open (so nothing raised between courses is missed). Empty for anyone who may not see
    them."""
    if actor is None:
        return []
    alerts = _with_permissions(
        actor,
        list(
            _open(
                _for_staff(actor).filter(
                    Q(course_id=course.pk) | Q(course__isnull=True), client_id=course.client_id
                )
            )[:limit]
        ),
    )
    audit_record_many(actor=actor, action="alert.list", targets=alerts, client_attr="client_id")
    return alerts


def alert_get_for_actor(*, actor, alert_id: int) -> Alert:
    """One alert for staff who may see it, else NotFound; the read is audited."""
    alert = _for_staff(actor).filter(pk=alert_id).first() if actor is not None else None
    if alert is None:
        raise audit_not_found(actor=actor, model=Alert, object_id=alert_id)
    _with_permissions(actor, [alert])
    audit_record(actor=actor, action="alert.view", target=alert, client_id=alert.client_id)
    return alert


def course_for_alerts(*, actor, course_id: int):
    """The course whose open alerts the actor asks for (the banner the session screen
    polls), or NotFound. One query; not audited here (open_alerts_for_course audits)."""
    from kapflow.courses.models import Course

    course = policy.courses_queryset(actor).filter(pk=course_id).first()
    if course is None:
        raise audit_not_found(
            actor=actor, model=Course, object_id=course_id, message="Course not found."
        )
    return course


def alert_get_for_reporter(*, actor, alert_id: int) -> Alert:
    """An alert the signed-in person raised themself (the page that tells them what to do)."""
    alert = (
        Alert.objects.for_org(actor.organisation)
        .filter(pk=alert_id, raised_by_id=actor.user_id)
        .select_related("organisation")
        .first()
        if actor is not None
        else None
    )
    if alert is None:
        raise audit_not_found(actor=actor, model=Alert, object_id=alert_id)
    return alert


def client_for_reporter(*, actor, client_id: int | None = None) -> tuple[Client, str]:
    """The client the actor may report for, and as whom ("client" or "companion"). Without
    a client id, the signed-in client's own record. NotFound for anyone else."""
    if actor is None:
        raise NotFound()
    clients = Client.objects.for_org(actor.organisation)
    if client_id is None:
        client = clients.filter(user_id=actor.user_id).first()
    else:
        client = clients.filter(pk=client_id).first()
    role = policy.alert_raiser_role(actor, client) if client is not None else ""
    if not role:
        raise audit_not_found(actor=actor, model=Client, object_id=client_id)
    return client, role


def symptom_labels(alert: Alert) -> list[str]:
    """The ticked checklist items in plain words (codes no longer known are shown as is)."""
    codes = alert.answers.get("symptoms", []) if isinstance(alert.answers, dict) else []
    return [SYMPTOM_BY_CODE[c].label if c in SYMPTOM_BY_CODE else c for c in codes]


def reporter_advice(alert: Alert) -> dict:
    """What the reporter is told to do now, from the codes kept with the alert."""
    chosen = [SYMPTOM_BY_CODE[c] for c in alert.reasons if c in SYMPTOM_BY_CODE]
    call_911 = any(s.call_911 for s in chosen)
    call_988 = any(s.call_988 for s in chosen)
    help_now = alert.kind == "help_now"
    if help_now:
        message = (
            "The therapist has been alerted. Call 911 now if the person is not responding or "
            "not breathing normally."
        )
    elif call_988:
        message = "Call or text 988 now. If anyone is in immediate danger, call 911."
    elif call_911:
        message = "Call 911 now. Your care team has been told too; do not wait for them."
    else:
        message = "Your care team has been told. If it gets worse, call 911."
    return {
        "call_911": call_911 or help_now,
        "call_988": call_988,
        "severity": alert.severity,
        "help_now": help_now,
        "message": message,
    }
