"""Journal factories: a course with dosing sessions, and entries. Fictional text only."""

import datetime

from django.utils import timezone

from kapflow.courses.models import Course, CourseEvent
from kapflow.journal.models import JournalEntry


def course_with_dosings(client, therapist, *, prescriber=None, dosings=2, **fields) -> Course:
    """An active course with `dosings` dosing sessions, a week apart, the latest yesterday."""
    course = Course.objects.create(
        organisation=client.organisation, client=client, therapist=therapist,
        prescriber=prescriber, stage="active", **fields,
    )  # fmt: skip
    now = timezone.now()
    for n in range(dosings):
        dosing(course, therapist, at=now - datetime.timedelta(days=1 + 7 * n))
    return course


def dosing(course, membership, *, at=None) -> CourseEvent:
    return CourseEvent.objects.create(
        organisation=course.organisation, course=course, kind="dosing",
        occurred_at=at or timezone.now(), actor=membership.user, actor_membership=membership,
    )  # fmt: skip


def entry(client, *, course=None, shared=False, kind="integration", body="A quiet morning.",
          dosing_event=None, **fields) -> JournalEntry:  # fmt: skip
    now = timezone.now()
    return JournalEntry.objects.create(
        organisation=client.organisation, client=client,
        course=course or (dosing_event.course if dosing_event else None), kind=kind,
        dosing_event=dosing_event, body=body, shared=shared, shared_at=now if shared else None,
        **fields,
    )  # fmt: skip
