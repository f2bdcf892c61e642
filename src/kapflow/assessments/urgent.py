"""Raising an urgent task (a positive safety screen): the row, the course's stored facts, the
audit row and the clinicians' e-mail. Its own module, below both kapflow.assessments.services
(a scored positive screen) and kapflow.courses.services (a positive screen typed on the course
page), so neither imports the other for it (issue 20: no import circle)."""

import logging

from django.db import transaction

from kapflow.accounts.models import Membership
from kapflow.assessments.models import UrgentTask
from kapflow.audit.services import audit_record
from kapflow.courses.facts import course_facts_refresh

logger = logging.getLogger("kapflow.assessments.services")


def urgent_task_raise(task: UrgentTask, *, actor: Membership | None) -> UrgentTask:
    task.full_clean()
    task.save()
    urgent_facts_refresh(task)
    audit_record(actor=actor, action="urgent_task.raise", target=task, client_id=task.client_id)
    logger.warning("assessment.safety_flag", extra={"urgent_task_id": task.pk})
    from kapflow.assessments.notify import urgent_task_notify

    task_id = task.pk
    transaction.on_commit(lambda: urgent_task_notify.enqueue(task_id))
    return task


TYPED_SCREEN_CODE = "screen.typed_positive"


def urgent_task_raise_for_screen(*, actor: Membership, event) -> UrgentTask:
    """A positive risk screen typed on the course page (no scored answers) raises the same
    urgent task a scored positive screen does, inside the caller's transaction. Nobody scored
    its answers, so it is raised at the "high" level (fail closed; decision 0029): it cannot
    proceed on the day it was raised. Called only by kapflow.courses.services.course_record."""
    return urgent_task_raise(
        UrgentTask(
            organisation_id=event.organisation_id, client_id=event.course.client_id,
            course_id=event.course_id, screen_event=event, codes=[TYPED_SCREEN_CODE],
            level="high",
        ),
        actor=actor,
    )  # fmt: skip


def urgent_facts_refresh(task: UrgentTask) -> None:
    """An urgent task is a fact of its course's dosing gate (stored for the caseload)."""
    if task.course_id is not None:
        course_facts_refresh(course_id=task.course_id)
