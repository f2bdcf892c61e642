"""Background work for scheduling. Task arguments are ids only."""

import logging

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def reminders_send_task(organisation_id: int | None = None) -> int:
    """Send the due appointment reminders (kapflow.scheduling.reminders)."""
    from kapflow.scheduling.reminders import reminders_send

    return reminders_send(organisation_id=organisation_id)


@task()
def dosing_request_send(course_id: int) -> None:
    """Tell the course's therapist that their client asked for a dosing session: a link to
    the course, nothing else."""
    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    from kapflow.courses.models import Course

    course = Course.objects.select_related("therapist__user").filter(pk=course_id).first()
    if course is None:
        return
    link = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("courses:detail", args=[course.pk])
    try:
        send_mail(
            subject="A client asked for a dosing session",
            message=f"One of your clients asked for a dosing session to be booked.\n\n{link}\n",
            from_email=None,
            recipient_list=[course.therapist.user.email],
        )
    except OSError:
        logger.exception("scheduling.dosing_request_failed", extra={"course_id": course_id})
