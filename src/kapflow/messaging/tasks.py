"""Background work for secure messages. Arguments are ids only.

The notification e-mail says only that a secure message is waiting and where to sign in:
never the message, its subject, the client's name, the sender or the practice (an e-mail from
a therapy practice already discloses that someone is a client).
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)

SUBJECT = "You have a new secure message in kapflow"


def notification_text() -> str:
    inbox = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("messaging:inbox")
    return (
        "You have a new secure message in kapflow.\n\n"
        f"Sign in to read it: {inbox}\n\n"
        "For your privacy, messages are never sent by e-mail. Secure messages are not for "
        "emergencies: call 911, or call or text 988 in a mental-health crisis.\n"
    )


@task()
def message_notify(message_id: int) -> None:
    """E-mail the other participants who may still read the thread. Someone who has not
    opened the thread since an earlier message was already told, and is not told again."""
    from kapflow import policy
    from kapflow.messaging.models import Message, ThreadParticipant

    message = Message.objects.get(pk=message_id)
    participants = (
        ThreadParticipant.objects.filter(thread_id=message.thread_id)
        .exclude(user_id=message.author_id)
        .select_related("user", "membership__organisation")
        .prefetch_related("membership__roles")
    )
    sent = 0
    for participant in participants:
        if not (participant.user.is_active and participant.membership.is_active):
            continue
        earlier_unread = Message.objects.filter(
            thread_id=message.thread_id, created_at__lt=message.created_at
        ).exclude(author_id=participant.user_id)
        if participant.last_read_at is not None:
            earlier_unread = earlier_unread.filter(created_at__gt=participant.last_read_at)
        if earlier_unread.exists():
            continue
        may_read = (
            policy.message_threads_queryset(participant.membership)
            .filter(pk=message.thread_id)
            .exists()
        )
        if not may_read:
            continue
        send_mail(
            subject=SUBJECT,
            message=notification_text(),
            from_email=None,
            recipient_list=[participant.user.email],
            fail_silently=True,
        )
        sent += 1
    logger.info("message.notified", extra={"message_id": message_id, "recipients": sent})
