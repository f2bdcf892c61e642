"""Notification write paths: tell people, mark read.

`notify` is called by the services that own the events (a consent signed, a referral sent, an
alert raised...) inside their own transaction, so a rolled-back event tells no one. It takes
the recipients the caller has already chosen by its own rules (the care team, the referral's
prescriber, a thread's participants); it never looks up clinical records itself.
"""

import logging
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from kapflow.accounts.models import Membership
from kapflow.core import clock
from kapflow.notifications.models import Kind, Notification

logger = logging.getLogger(__name__)


def notify(
    *,
    recipients: Iterable[Membership] | QuerySet,
    kind: str,
    route: str = "",
    object_id: int | None = None,
    exclude_user_id: int | None = None,
    at: datetime | None = None,
) -> list[Notification]:
    """One unread notification per active recipient membership (each once), in one INSERT.
    `exclude_user_id` leaves out the person who caused the event (one does not notify oneself).
    A QuerySet of memberships costs one query; a list of loaded memberships none. `at` (default
    now) is for the demo, which replays past events."""
    if kind not in Kind.values:
        raise ValidationError({"kind": ["Unknown notification kind."]})
    if isinstance(recipients, QuerySet):
        people = list(
            recipients.filter(is_active=True).values_list("pk", "organisation_id", "user_id")
        )
    else:
        people = [(m.pk, m.organisation_id, m.user_id) for m in recipients if m.is_active]
    now = at or clock.now()
    seen: set[int] = set()
    rows = []
    for pk, organisation_id, user_id in people:
        if pk in seen or (exclude_user_id is not None and user_id == exclude_user_id):
            continue
        seen.add(pk)
        rows.append(
            Notification(
                organisation_id=organisation_id,
                recipient_id=pk,
                kind=kind,
                route=route,
                object_id=object_id,
                created_at=now,
            )
        )
    if not rows:
        return []
    made = Notification.objects.bulk_create(rows)
    logger.info("notification.sent", extra={"kind": kind, "count": len(made)})
    return made


@transaction.atomic
def notification_open(*, actor: Membership, notification_id: int) -> Notification | None:
    """Mark one of the actor's notifications read; None when it is not theirs (or gone)."""
    notification = (
        Notification.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(pk=notification_id, recipient=actor)
        .first()
    )
    if notification is None:
        return None
    if notification.read_at is None:
        notification.read_at = clock.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_read_all(*, actor: Membership) -> int:
    """Mark every unread notification of the actor read; how many were."""
    return (
        Notification.objects.for_org(actor.organisation)
        .filter(recipient=actor, read_at__isnull=True)
        .update(read_at=clock.now())
    )
