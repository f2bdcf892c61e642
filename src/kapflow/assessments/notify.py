"""Assessment e-mails, sent after commit: the one-time questionnaire link and the urgent-task
notice to the care team. Arguments are ids only; e-mails carry no PHI.

assessments.services enqueues these; nothing here imports the services, so the two modules
do not import each other (the scan task that runs a service is in tasks.py).
"""

import logging
import secrets

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def link_email(link_id: int) -> None:
    """Mint the one-time link's token (only its hash is stored) and e-mail it."""
    from kapflow.accounts.models import hash_secret
    from kapflow.assessments.models import ResponseLink

    link = ResponseLink.objects.select_related("assignment__client__organisation").get(pk=link_id)
    token = secrets.token_urlsafe(32)
    link.token_hash = hash_secret(token)
    link.save(update_fields=["token_hash"])
    client = link.assignment.client
    url = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("assessment_link", args=[token])
    send_mail(
        subject=f"{client.organisation.name}: a short questionnaire",
        message=(
            f"{client.organisation.name} has asked you to fill in a short questionnaire.\n\n"
            f"Open this link (it works once and expires on {link.expires_at:%Y-%m-%d}):\n{url}\n"
        ),
        from_email=None,
        recipient_list=[client.email],
        fail_silently=True,
    )
    logger.info("assessment.link_sent", extra={"link_id": link_id})


@task()
def urgent_task_notify(task_id: int) -> None:
    """Tell the client's clinicians at once that an urgent task waits (link only)."""
    from kapflow.assessments.models import UrgentTask
    from kapflow.patients.grants import team_emails

    urgent = UrgentTask.objects.get(pk=task_id)
    emails = team_emails(urgent.client_id)
    url = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("assessments:urgent", args=[task_id])
    for email in sorted(emails):
        send_mail(
            subject="kapflow: urgent safety screen to review",
            message=(
                "A questionnaire answered by one of your clients needs a same-day clinical "
                f"review.\n\nOpen the task: {url}\n"
            ),
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    logger.info("assessment.urgent_notified", extra={"urgent_task_id": task_id})
