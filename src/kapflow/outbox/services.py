"""Outbox write paths: store a message (one copy per recipient), purge old messages.

Called by the e-mail backend, never by views. Logs carry counts and ids, never addresses,
subjects or bodies.
"""

import datetime
import logging
import re
from email.utils import getaddresses

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

# The characters of an invitation token (secrets.token_urlsafe).
TOKEN = r"[A-Za-z0-9_-]+"


def _invitation_id(body: str) -> int | None:
    """The pending invitation whose link is in `body`, found by the token's hash as the
    invitation page finds it; None for any other message."""
    from kapflow.accounts.models import hash_secret
    from kapflow.accounts.selectors import invitation_get_by_token

    prefix = reverse("accounts:invitation", args=["TOKEN"]).removesuffix("TOKEN/")
    match = re.search(re.escape(prefix) + f"({TOKEN})/", body)
    if match is None:
        return None
    try:
        return invitation_get_by_token(token_hash=hash_secret(match.group(1))).pk
    except NotFound:
        return None


@transaction.atomic
def outbox_store(*, message) -> list[OutboxMessage]:
    """Keep `message` (a django.core.mail.EmailMessage) in the outbox: one row per distinct
    recipient address (to, cc, bcc). Messages older than KAPFLOW_OUTBOX_DAYS go at the same
    time, so the demo's outbox needs no cron."""
    body = message.body or ""
    addresses = []
    for _name, address in getaddresses(message.recipients()):
        address = address.strip().lower()
        if address and address not in addresses:
            addresses.append(address)
    invitation_id = _invitation_id(body)
    now = clock.now()
    rows = [
        OutboxMessage(
            created_at=now,
            recipient=address,
            to=", ".join(message.to),
            from_email=message.from_email or "",
            subject=message.subject or "",
            body=body,
            invitation_id=invitation_id,
        )
        for address in addresses
    ]
    for row in rows:
        row.full_clean()
    OutboxMessage.objects.bulk_create(rows)
    purged = outbox_purge(now=now, days=settings.KAPFLOW_OUTBOX_DAYS)
    logger.info(
        "outbox.stored",
        extra={"copies": len(rows), "invitation_id": invitation_id, "purged": purged},
    )
    return rows


def outbox_purge(*, now: datetime.datetime, days: int) -> int:
    """Delete messages stored more than `days` days before `now`; returns how many."""
    cutoff = now - datetime.timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted
