"""The local outbox: e-mail kept in the database instead of being sent (decision 0039).

One row per recipient, as a mail server delivers one copy to each mailbox, so a page can show
each person the mail addressed to them and nothing else. Rows hold live links (invitations,
password resets), so they are kept for days, not forever (services.outbox_purge).

Not a tenant table: mail is addressed to people, not organisations. Who reads which row is
decided in selectors.outbox_list.
"""

from django.db import models

from kapflow.core import clock


class OutboxMessage(models.Model):
    created_at = models.DateTimeField(default=clock.now)
    # The address this copy was delivered to, lower-cased (to, cc and bcc each get a copy).
    recipient = models.EmailField(max_length=254)
    # The To line as every recipient sees it (a bcc copy shows the same line).
    to = models.TextField(blank=True)
    from_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True)
    # The invitation whose link the message carries, found when it was stored: its
    # organisation's admins and the person who sent it may read it (policy).
    invitation_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="outbox_recipient_idx"),
            models.Index(fields=["invitation_id"], name="outbox_invitation_idx"),
            models.Index(fields=["created_at"], name="outbox_created_idx"),
        ]

    def __str__(self) -> str:
        # No address or subject: this string may reach logs and admin pages.
        return f"Outbox message #{self.pk}"
