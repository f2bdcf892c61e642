"""Recompute the stored course facts from the rows (decision 0042): names the courses whose
stored facts differed, then writes every course's facts, one practice per transaction."""

from django.core.management.base import BaseCommand
from django.db import transaction

from kapflow.courses.models import Course
from kapflow.courses.selectors import course_facts_drift
from kapflow.courses.services import course_facts_refresh


class Command(BaseCommand):
    help = (
        "Recompute the stored facts of every course (or one practice's) from the rows they "
        "are read from, and say which courses differed. --check writes nothing and exits 1 "
        "if any differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organisation", type=int, help="only this organisation's id")
        parser.add_argument(
            "--check", action="store_true", help="only compare; exit 1 if any course differs"
        )

    def handle(self, *args, organisation=None, check=False, **options):
        organisations = (
            [organisation]
            if organisation is not None
            else list(
                Course.objects.order_by("organisation_id")
                .values_list("organisation_id", flat=True)
                .distinct()
            )
        )
        differed = 0
        for org_id in organisations:
            drift = course_facts_drift(organisation_id=org_id)
            differed += len(drift)
            for course_id, fields in drift.items():
                self.stdout.write(f"course {course_id}: {', '.join(fields)}")
            if check:
                continue
            with transaction.atomic():
                written = course_facts_refresh(organisation_id=org_id)
            self.stdout.write(f"organisation {org_id}: {written} courses written")
        self.stdout.write(f"{differed} courses differed from their rows")
        if check and differed:
            raise SystemExit(1)
