from django.core.management.base import BaseCommand

from kapflow.accounts.models import Organisation, OrganisationKind
from kapflow.courses.tasks import deadline_scan_task


class Command(BaseCommand):
    help = (
        "Enqueue the deadline scan for every practice (run from cron, e.g. every 15 minutes). "
        "Idempotent: running it again raises nothing twice."
    )

    def handle(self, *args, **options):
        for org_id in Organisation.objects.filter(kind=OrganisationKind.PRACTICE).values_list(
            "pk", flat=True
        ):
            result = deadline_scan_task.enqueue(org_id)
            # The measurement schedule rides on the same clock.
            from kapflow.assessments.tasks import measurement_scan_task

            measured = measurement_scan_task.enqueue(org_id)
            self.stdout.write(
                f"organisation {org_id}: deadlines {result.status}, measurement {measured.status}"
            )
