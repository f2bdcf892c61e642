"""Background work for accounts. Task arguments are ids only, never PHI or secrets."""

import logging
import secrets

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def invitation_send(invitation_id: int) -> None:
    """Mint a fresh link token (only its hash is kept) and e-mail it. Sending again makes the
    earlier link stop working."""
    from kapflow.accounts.models import Invitation, hash_secret

    invitation = Invitation.objects.select_related("organisation", "invited_by").get(
        pk=invitation_id
    )
    if invitation.status != "pending":
        return
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_secret(token)
    invitation.save(update_fields=["token_hash"])
    link = settings.KAPFLOW_BASE_URL.rstrip("/") + reverse("accounts:invitation", args=[token])
    body = render_to_string(
        "accounts/email/invitation.txt", {"invitation": invitation, "link": link}
    )
    try:
        send_mail(
            subject=f"You are invited to {invitation.organisation.name} on kapflow",
            message=body,
            from_email=None,
            recipient_list=[invitation.email],
        )
    except OSError:
        # SMTP down: the invitation stays pending and the admin can "Send again".
        logger.exception("invitation.send_failed", extra={"invitation_id": invitation_id})
        return
    logger.info("invitation.sent", extra={"invitation_id": invitation_id})


@task()
def password_reset_send(user_id: int) -> None:
    """Mint a reset link (Django's token generator: bound to the current password, so it works
    once, and to PASSWORD_RESET_TIMEOUT) and e-mail it. The message holds no name, practice
    or anything clinical: only the link."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from kapflow.accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    body = render_to_string(
        "accounts/email/password_reset.txt",
        {
            "link": settings.KAPFLOW_BASE_URL.rstrip("/") + path,
            "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        },
    )
    try:
        send_mail(
            subject="Reset your kapflow password",
            message=body,
            from_email=None,
            recipient_list=[user.email],
        )
    except OSError:
        logger.exception("password_reset.send_failed", extra={"user_id": user_id})
        return
    logger.info("password_reset.sent", extra={"user_id": user_id})
