"""Writing audit rows. Every service that reads or writes client data calls audit_record in
the same transaction as the change, so an action and its trail commit or fail together."""

from collections.abc import Iterable

from kapflow.audit.models import AuditEvent
from kapflow.core.context import current_request_meta


def _event(*, actor, action, target, client_id, changed_fields):
    meta = current_request_meta()
    return AuditEvent(
        actor_id=actor.user_id if actor is not None else None,
        organisation_id=actor.organisation_id if actor is not None else None,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=target.pk if target is not None else None,
        client_id=client_id,
        request_id=meta.request_id,
        client_request_id=meta.client_request_id,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        route=meta.route,
        changed_fields=sorted(changed_fields or []),
    )


def audit_record(
    *, actor, action: str, target=None, client_id: int | None = None, changed_fields=None
) -> AuditEvent:
    """One row: `actor` is the acting Membership (None for system tasks)."""
    event = _event(
        actor=actor,
        action=action,
        target=target,
        client_id=client_id,
        changed_fields=changed_fields,
    )
    event.save()
    return event


def audit_record_many(*, actor, action: str, targets: Iterable, client_attr: str = "pk") -> None:
    """One row per target in a single INSERT, e.g. every client shown on a list page."""
    AuditEvent.objects.bulk_create(
        [
            _event(
                actor=actor,
                action=action,
                target=target,
                client_id=getattr(target, client_attr),
                changed_fields=None,
            )
            for target in targets
        ]
    )
