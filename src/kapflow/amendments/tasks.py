"""E-mails about amendment requests. Arguments are ids only.

An e-mail says only that there is news and where to sign in: never the request, the part of
the record, the decision, the client's name or the practice's (an e-mail from a therapy
practice already discloses that someone is a client). The page behind the link checks who is
signed in.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)

CLIENT_SUBJECT = "News about your request in kapflow"
TEAM_SUBJECT = "A request about a client's record needs attention in kapflow"


def client_text(amendment_id: int) -> str:
    url = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse(
        "amendments:mine_detail", args=[amendment_id]
    )
    return (
        "There is news about a request you made in kapflow.\n\n"
        f"Sign in to read it: {url}\n\n"
        "For your privacy, the details are never sent by e-mail.\n"
    )


def team_text(amendment_id: int) -> str:
    url = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("amendments:detail", args=[amendment_id])
    return (
        "A request to amend a client's record needs your attention in kapflow.\n\n"
        f"Open it in kapflow: {url}\n"
    )


@task()
def amendment_notify_client(amendment_id: int) -> None:
    """Tell the client there is news (an extension, a decision, a rebuttal)."""
    from kapflow.amendments.models import AmendmentRequest

    row = AmendmentRequest.objects.select_related("client__user").get(pk=amendment_id)
    user = row.client.user
    if user is None or not user.is_active or not user.email:
        logger.info("amendment.client_not_notified", extra={"amendment_id": amendment_id})
        return
    send_mail(
        subject=CLIENT_SUBJECT,
        message=client_text(amendment_id),
        from_email=None,
        recipient_list=[user.email],
        fail_silently=True,
    )
    logger.info("amendment.client_notified", extra={"amendment_id": amendment_id})


@task()
def amendment_notify_team(amendment_id: int) -> None:
    """Tell the practice's clinicians on the client's care team that a request (or a
    statement of disagreement) is waiting. A partner's prescriber is not told: they do not
    decide."""
    from kapflow.amendments.models import AmendmentRequest
    from kapflow.patients.grants import team_emails

    row = AmendmentRequest.objects.get(pk=amendment_id)
    emails = team_emails(row.client_id, organisation_id=row.organisation_id)
    for email in sorted(emails):
        send_mail(
            subject=TEAM_SUBJECT,
            message=team_text(amendment_id),
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    logger.info(
        "amendment.team_notified", extra={"amendment_id": amendment_id, "recipients": len(emails)}
    )
