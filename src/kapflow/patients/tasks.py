"""Background work for client records. Arguments are ids only; e-mails carry no PHI: no
client, no reason, no explanation, only that something happened and where to look."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)

EMERGENCY_SUBJECT = "Emergency access was opened in kapflow"


@task()
def emergency_access_notify(grant_id: int) -> None:
    """Tell every active admin of the practice, at once, that a clinician opened emergency
    access (decision 0036). The link leads to the grant on the admin's report page."""
    from kapflow.accounts.models import Membership, Role
    from kapflow.patients.models import EmergencyAccess

    grant = EmergencyAccess.objects.select_related("organisation").get(pk=grant_id)
    emails = set(
        Membership.objects.filter(
            organisation_id=grant.organisation_id,
            is_active=True,
            user__is_active=True,
            roles__role=Role.PRACTICE_ADMIN,
        ).values_list("user__email", flat=True)
    )
    url = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse(
        "patients:emergency_detail", args=[grant_id]
    )
    for email in sorted(emails):
        send_mail(
            subject=EMERGENCY_SUBJECT,
            message=(
                f"An emergency access was opened in {grant.organisation.name}. It lets a "
                "clinician outside a client's care team read the record for a limited "
                "time.\n\n"
                f"Review it in kapflow: {url}\n"
            ),
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
    logger.warning("breakglass.notified", extra={"grant_id": grant_id, "recipients": len(emails)})
