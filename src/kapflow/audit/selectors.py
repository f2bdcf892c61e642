"""Reading the audit trail: the practice's trail and a client's own access report."""

from django.db.models import QuerySet

from kapflow import policy
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import NotFound


def audit_list(*, actor, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """The trail of actions taken by anyone acting for the actor's organisation, plus every
    action on the organisation's clients (a partner prescriber reading one of our clients)."""
    if not policy.can_view_audit(actor):
        raise NotFound()
    from django.db.models import Q

    from kapflow.patients.models import Client

    own_clients = Client.objects.for_org(actor.organisation).values("pk")
    qs = AuditEvent.objects.filter(
        Q(organisation_id=actor.organisation_id) | Q(client_id__in=own_clients)
    )
    filters = filters or {}
    if filters.get("actor"):
        qs = qs.filter(actor_id=filters["actor"])
    if filters.get("action"):
        qs = qs.filter(action__startswith=filters["action"])
    if filters.get("client"):
        qs = qs.filter(client_id=filters["client"])
    if filters.get("since"):
        qs = qs.filter(at__date__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(at__date__lte=filters["until"])
    return qs.select_related("actor", "organisation").order_by("-at", "-id")


def client_access_report(*, client_id: int) -> QuerySet[AuditEvent]:
    """Who looked at or changed this client's record (accounting of access, 164.528 spirit).
    Callers have already established that the viewer is this client."""
    return (
        AuditEvent.objects.filter(client_id=client_id)
        .select_related("actor", "organisation")
        .order_by("-at", "-id")
    )
