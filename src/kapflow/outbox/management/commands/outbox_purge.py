"""`kapflow outbox_purge`: delete outbox messages older than KAPFLOW_OUTBOX_DAYS (or --days).

Storing a message already purges, so this is for an outbox that no longer receives mail.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from kapflow.core import clock
from kapflow.outbox.services import outbox_purge


class Command(BaseCommand):
    help = "Delete outbox messages older than KAPFLOW_OUTBOX_DAYS days."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, days=None, **options):
        days = settings.KAPFLOW_OUTBOX_DAYS if days is None else days
        if days < 0:
            self.stderr.write("--days must be 0 or more.")
            return
        deleted = outbox_purge(now=clock.now(), days=days)
        self.stdout.write(f"Deleted {deleted} outbox message(s) older than {days} day(s).")
