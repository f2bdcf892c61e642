"""Directory background work: the person's links and the practice's notice. Arguments are
ids and a kind, never PHI or tokens: the link's token is re-made from the inquiry's id and
the secret key (directory.services.inquiry_token)."""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks import task

logger = logging.getLogger(__name__)


def _base() -> str:
    return settings.KAPFLOW_BASE_URL.rstrip("/")


def consultation_ics(inquiry, *, practice_name: str, stamp) -> bytes:
    """A calendar file for the held slot: the practice's name and the time, nothing else."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//kapflow//directory//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"inquiry-{inquiry.pk}@kapflow")
    event.add("dtstamp", stamp)
    event.add("dtstart", inquiry.slot_starts_at)
    event.add("dtend", inquiry.slot_ends_at)
    event.add("summary", f"Free consultation: {practice_name}")
    cal.add_component(event)
    return cal.to_ical()


@task()
def inquiry_link_send(inquiry_id: int, kind: str) -> None:
    """E-mail the person: "confirm" (confirm, cancel or move) or "confirmed" (with .ics)."""
    from kapflow.core import clock
    from kapflow.directory.models import Inquiry

    inquiry = (
        Inquiry.objects.select_related("clinician", "clinician__practice")
        .filter(pk=inquiry_id)
        .first()
    )
    if inquiry is None:
        return
    from kapflow.directory.services import inquiry_token

    link = _base() + reverse("directory:manage_request", args=[inquiry_token(inquiry.pk)])
    practice = inquiry.clinician.practice
    body = render_to_string(
        f"directory/email/{'confirm' if kind == 'confirm' else 'confirmed'}.txt",
        {"inquiry": inquiry, "practice": practice, "link": link},
    )
    subject = (
        "Please confirm your consultation request"
        if kind == "confirm"
        else f"Your consultation request to {practice.display_name}"
    )
    message = EmailMessage(subject=subject, body=body, to=[inquiry.email])
    if kind != "confirm" and inquiry.slot_starts_at:
        message.attach(
            "consultation.ics",
            consultation_ics(inquiry, practice_name=practice.display_name, stamp=clock.now()),
            "text/calendar",
        )
    try:
        message.send()
    except OSError:
        logger.exception("directory.link_send_failed", extra={"inquiry_id": inquiry_id})
        return
    logger.info("directory.link_sent", extra={"inquiry_id": inquiry_id, "kind": kind})


@task()
def inquiry_practice_notify(inquiry_id: int) -> None:
    """E-mail the practice's admins and the clinician a link to the inquiry: no name, no
    answers, nothing clinical in the message."""
    from kapflow.accounts.models import Membership, Role
    from kapflow.directory.models import Inquiry

    inquiry = Inquiry.objects.select_related("clinician").filter(pk=inquiry_id).first()
    if inquiry is None:
        return
    recipients = set(
        Membership.objects.filter(
            organisation_id=inquiry.organisation_id,
            is_active=True,
            roles__role=Role.PRACTICE_ADMIN,
        ).values_list("user__email", flat=True)
    )
    recipients |= set(
        Membership.objects.filter(pk=inquiry.clinician.membership_id).values_list(
            "user__email", flat=True
        )
    )
    link = _base() + reverse("directory:inquiry", args=[inquiry.pk])
    body = render_to_string("directory/email/practice_notice.txt", {"link": link})
    try:
        EmailMessage(
            subject="A new consultation request is waiting", body=body, to=sorted(recipients)
        ).send()
    except OSError:
        logger.exception("directory.notice_failed", extra={"inquiry_id": inquiry_id})
        return
    logger.info("directory.notice_sent", extra={"inquiry_id": inquiry_id})


@task()
def inquiry_holds_expire_task() -> int:
    from kapflow.directory.services import inquiry_holds_expire

    return inquiry_holds_expire()
