"""Course factories: a course at any stage with the facts that stage implies."""

import datetime

from django.utils import timezone

from kapflow.courses.models import Course, CourseEvent
from kapflow.courses.services import course_facts_refresh

ORDER = [
    "inquiry", "intake", "referred", "medical_evaluation", "eligible", "consented",
    "preparation", "active",
]  # fmt: skip


def make_course(client, therapist, *, prescriber=None, stage="inquiry", delivery="in_person",
                pathway="higher_dose", consent=None, **fields) -> Course:  # fmt: skip
    """A course at `stage`, with what reaching it would have recorded (eligibility, the
    client's signature of the current consent documents, one preparation session, a
    prescription with `doses` dispensed: 2 from active on) so that the gates see a
    consistent picture. `consent` overrides the signatures: False (none), "withdrawn" or
    "outdated" (see tests.consents.factories.consent_for)."""
    now = timezone.now()
    reached = ORDER.index(stage) if stage in ORDER else len(ORDER)
    values = {
        "organisation": client.organisation, "client": client, "therapist": therapist,
        "prescriber": prescriber, "stage": stage, "delivery": delivery, "pathway": pathway,
    }  # fmt: skip
    if reached >= ORDER.index("eligible"):
        values.update(
            eligibility="eligible",
            clearance_on=now.date() - datetime.timedelta(days=1),
            clearance_valid_days=180,
        )
    if consent is None:
        consent = reached >= ORDER.index("consented")
    doses = fields.pop("doses", 2 if reached >= ORDER.index("active") else 0)
    values.update(fields)
    course = Course.objects.create(**values)
    if consent is not False:
        from tests.consents.factories import consent_for

        consent_for(client, delivery=delivery, state=consent)
    if reached >= ORDER.index("active"):
        event(course, therapist, "preparation")
    if doses:
        from tests.prescriptions.factories import prescribe

        prescribe(course, doses=doses)
    # What the services' write paths store with every change (decision 0042).
    course_facts_refresh(course_id=course.pk)
    return course


def event(course, membership, kind, *, at=None, **fields) -> CourseEvent:
    made = CourseEvent.objects.create(
        organisation=course.organisation, course=course, kind=kind,
        occurred_at=at or timezone.now(), actor=membership.user, actor_membership=membership,
        **fields,
    )  # fmt: skip
    course_facts_refresh(course_id=course.pk)
    return made
