from django.core.management.base import BaseCommand

from kapflow.scheduling.tasks import reminders_send_task


class Command(BaseCommand):
    help = (
        "Enqueue the appointment reminder scan (run from cron, e.g. every 5 minutes). "
        "Idempotent: a reminder goes out once per person, offset and channel."
    )

    def handle(self, *args, **options):
        result = reminders_send_task.enqueue()
        self.stdout.write(f"reminders: {result.status}")
