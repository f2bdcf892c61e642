import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Walk the audit trail's hash chain in id order and report the first broken link, or "
        "OK with the number of events. Records the result (shown on the audit page). "
        "--enqueue hands the check to the task queue instead (for cron, e.g. nightly)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--enqueue", action="store_true", help="Run as a background task.")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, enqueue=False, batch_size=5000, **options):
        if enqueue:
            from kapflow.audit.tasks import audit_verify_task

            result = audit_verify_task.enqueue()
            self.stdout.write(f"audit verify {result.status}")
            return
        from kapflow.audit.services import audit_chain_check

        started = time.perf_counter()
        check = audit_chain_check(batch_size=batch_size)
        seconds = time.perf_counter() - started
        if not check.ok:
            raise CommandError(
                f"BROKEN at event {check.broken_id}: {check.detail} "
                f"({check.events} events intact before it; last intact id {check.last_id})"
            )
        self.stdout.write(f"OK: {check.events} events, chain intact ({seconds:.1f} s)")
