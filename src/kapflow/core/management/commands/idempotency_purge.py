from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Delete idempotency records (API Idempotency-Key responses and spent form tokens) "
        "made more than 24 hours ago; stored API responses may hold PHI, so run it at least "
        "daily. --enqueue hands the purge to the task queue instead (for cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--enqueue", action="store_true", help="Run as a background task.")

    def handle(self, *args, enqueue=False, **options):
        if enqueue:
            from kapflow.core.tasks import idempotency_purge_task

            result = idempotency_purge_task.enqueue()
            self.stdout.write(f"idempotency purge {result.status}")
            return
        from kapflow.core.idempotency import idempotency_purge

        deleted = idempotency_purge()
        self.stdout.write(f"Deleted {deleted} idempotency records older than 24 hours.")
