"""Reading the audit trail: the practice's trail and a client's own access report."""

from django.db.models import QuerySet

from kapflow import policy
from kapflow.audit.models import EVENT_KINDS, AuditCheck, AuditEvent
from kapflow.core.errors import NotFound
from kapflow.core.replica import report_db


def audit_list(*, actor, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """The trail of actions taken by anyone acting for the actor's organisation, plus every
    action on the organisation's clients (a partner prescriber reading one of our clients),
    plus every denied attempt on a record the organisation holds. A denied attempt by one of
    our own members on another organisation's record is not shown to us: it would tell our
    admin that the id exists there."""
    if not policy.can_view_audit(actor):
        raise NotFound()
    from django.db.models import Q

    from kapflow.patients.models import Client

    own_clients = Client.objects.for_org(actor.organisation).values("pk")
    qs = AuditEvent.objects.filter(
        (Q(organisation_id=actor.organisation_id) & ~Q(action=DENIED))
        | Q(client_id__in=own_clients)
        | Q(record_organisation_id=actor.organisation_id)
    )
    filters = filters or {}
    if filters.get("actor"):
        qs = qs.filter(actor_id=filters["actor"])
    if filters.get("kind") in EVENT_KINDS:
        qs = qs.filter(action__startswith=filters["kind"])
    if filters.get("action"):
        qs = qs.filter(action__startswith=filters["action"])
    if filters.get("client"):
        qs = qs.filter(client_id=filters["client"])
    if filters.get("since"):
        qs = qs.filter(at__date__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(at__date__lte=filters["until"])
    # A report (the page, its CSV export, the API): the replica when there is one.
    return (
        qs.select_related("actor", "organisation")
        .order_by("-at", "-id")
        .using(report_db(AuditEvent))
    )


DENIED = "access.denied"


def audit_check_latest() -> AuditCheck | None:
    """The last run of audit_verify (the whole trail, not one organisation's part)."""
    return AuditCheck.objects.order_by("-at", "-id").first()


def client_access_report(*, client_id: int) -> QuerySet[AuditEvent]:
    """Who looked at or changed this client's record (accounting of access, 164.528 spirit).
    Callers have already established that the viewer is this client. A report: read from
    the replica when there is one."""
    return (
        AuditEvent.objects.using(report_db(AuditEvent))
        .filter(client_id=client_id)
        .exclude(action=DENIED)
        .select_related("actor", "organisation")
        .order_by("-at", "-id")
    )


def clients_touched_in_request(*, actor, request_id: str, since, client_ids) -> set[int]:
    """Which of `client_ids` had a row written by the actor in this request (emergency
    access marks each as used, decision 0036). Served by the (actor, at) index."""
    if not request_id or not client_ids:
        return set()
    return set(
        AuditEvent.objects.filter(
            actor_id=actor.user_id,
            organisation_id=actor.organisation_id,
            at__gte=since,
            request_id=request_id,
            client_id__in=list(client_ids),
        )
        .exclude(action=DENIED)
        .exclude(action__startswith="breakglass.")
        .values_list("client_id", flat=True)
    )


def emergency_access_trail(*, grant, until) -> QuerySet[AuditEvent]:
    """What the holder of an emergency grant did on its client between the grant's start and
    `until` (its end, or now), oldest first: the records read under it (decision 0036)."""
    return AuditEvent.objects.filter(
        client_id=grant.client_id,
        actor_id=grant.membership.user_id,
        organisation_id=grant.organisation_id,
        at__gte=grant.started_at,
        at__lte=until,
    ).order_by("at", "id")
