"""Outbox reads: the messages a signed-in person may read on the outbox page."""

from django.db.models import Q, QuerySet

from kapflow import policy
from kapflow.outbox.models import OutboxMessage


def outbox_list(*, user, actor) -> QuerySet[OutboxMessage]:
    """Newest first: the mail addressed to `user`, and the invitation mail `actor` may read
    (policy.outbox_invitations_queryset): nobody reads another person's password reset."""
    visible = Q(recipient=user.email.strip().lower())
    invitations = policy.outbox_invitations_queryset(actor)
    if invitations is not None:
        visible |= Q(invitation_id__in=invitations.values("pk"))
    return OutboxMessage.objects.filter(visible).order_by("-created_at", "-id")
