"""Recompute the stored outcome summaries from the responses and courses (decision 0043): names
the rows that differed, then writes every client's summaries, 2,000 clients per transaction."""

from django.core.management.base import BaseCommand

from kapflow.outcomes.selectors import outcome_summaries_drift
from kapflow.outcomes.services import outcome_summaries_rebuild
from kapflow.patients.models import Client


class Command(BaseCommand):
    help = (
        "Recompute every client's outcome summaries (or one organisation's) from their current "
        "responses and most recent course, and say which differed. --check writes nothing and "
        "exits 1 if any differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organisation", type=int, help="only this organisation's id")
        parser.add_argument(
            "--check", action="store_true", help="only compare; exit 1 if any summary differs"
        )

    def handle(self, *args, organisation=None, check=False, **options):
        organisations = (
            [organisation]
            if organisation is not None
            else list(
                Client.objects.order_by("organisation_id")
                .values_list("organisation_id", flat=True)
                .distinct()
            )
        )
        differed = 0
        for org_id in organisations:
            drift = outcome_summaries_drift(organisation_id=org_id)
            differed += len(drift)
            # Ids and field names only: a summary's numbers are clinical data.
            for (client_id, instrument), fields in sorted(drift.items()):
                self.stdout.write(f"client {client_id} {instrument}: {', '.join(fields)}")
            if check:
                continue
            written = outcome_summaries_rebuild(organisation_id=org_id)
            self.stdout.write(f"organisation {org_id}: {written} summaries written")
        self.stdout.write(f"{differed} summaries differed from their rows")
        if check and differed:
            raise SystemExit(1)
