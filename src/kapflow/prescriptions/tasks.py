"""Background work for referrals and prescriptions. Arguments are ids only; e-mails name no
client, diagnosis or medicine, only that something is waiting and where to look."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)


def _link(name: str, *args) -> str:
    return settings.KAPFLOW_BASE_URL.rstrip("/") + reverse(name, args=args)


@task()
def referral_notify(referral_id: int) -> None:
    """Tell the prescriber a referral is waiting in their queue."""
    from kapflow.prescriptions.models import Referral

    referral = Referral.objects.select_related("prescriber__user", "organisation").get(
        pk=referral_id
    )
    send_mail(
        subject="kapflow: a new referral is waiting",
        message=(
            f"{referral.organisation.name} has sent you a referral.\n\n"
            f"Open your referral queue: {_link('prescriptions:queue')}\n"
        ),
        from_email=None,
        recipient_list=[referral.prescriber.user.email],
        fail_silently=True,
    )
    logger.info("referral.notified", extra={"referral_id": referral_id})


@task()
def refill_notify(refill_request_id: int) -> None:
    """Tell the prescriber a course is running low on doses."""
    from kapflow.prescriptions.models import RefillRequest

    request = RefillRequest.objects.select_related("prescriber__user").get(pk=refill_request_id)
    send_mail(
        subject="kapflow: a refill request is waiting",
        message=(
            "A course you prescribe for is running low on doses.\n\n"
            f"Open your queue: {_link('prescriptions:queue')}\n"
        ),
        from_email=None,
        recipient_list=[request.prescriber.user.email],
        fail_silently=True,
    )
    logger.info("refill.notified", extra={"refill_request_id": refill_request_id})
