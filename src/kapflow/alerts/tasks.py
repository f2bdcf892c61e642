"""Background work for alerts. Arguments are ids only; e-mails carry no PHI: no name, no
answers, no note, only that a concern was reported and where to look."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)

SUBJECT = "A client has reported a concern in kapflow"


@task()
def alert_notify(alert_id: int) -> None:
    """E-mail every clinician on the client's care team (therapists and prescribers, the
    partner's included) a link to the alert, at once."""
    from kapflow.alerts.models import Alert
    from kapflow.patients.grants import team_emails

    alert = Alert.objects.get(pk=alert_id)
    emails = team_emails(alert.client_id)
    url = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("alerts:detail", args=[alert_id])
    for email in sorted(emails):
        send_mail(
            subject=SUBJECT,
            message=(
                "Someone in your care has reported a concern through kapflow. It may need "
                f"attention now.\n\nOpen it in kapflow: {url}\n"
            ),
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    logger.info("alert.notified", extra={"alert_id": alert_id, "recipients": len(emails)})
