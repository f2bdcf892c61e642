"""Appointment reminders: which are due, and sending them once.

A reminder goes to every participant of a scheduled appointment (the client, the clinicians,
an at-home companion) at each of the practice's offsets (SchedulingSettings.reminder_offsets,
minutes before the start; a day and two hours by default), by e-mail and, when the practice
turned text messages on and the person has a phone number, by SMS.

No PHI: the message names the practice and the time in the recipient's own zone, never the
client, the kind of session or the video link ("Sign in to see details"). Idempotent: a
ReminderSent row (unique per participant, offset and channel) is written before sending, in
its own transaction, so a second scan sends nothing twice (at most once: a failed send is
logged, not retried). When several offsets are due at once (booked late), one message goes
out and every due offset is recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapflow.clinical import scheduling as rules
from kapflow.core.timezones import client_zone, organisation_zone
from kapflow.scheduling import sms
from kapflow.scheduling.models import (
    AppointmentParticipant,
    AppointmentStatus,
    ReminderChannel,
    ReminderSent,
)
from kapflow.scheduling.services import reminder_offsets, settings_for

logger = logging.getLogger(__name__)

SUBJECT = "Appointment reminder"


def reminder_text(*, practice: str, starts_at: datetime, zone_name: str) -> str:
    """The whole message, e-mail and SMS alike: no PHI."""
    when = rules.local_label(starts_at, zone_name)
    base = settings.KAPFLOW_BASE_URL.rstrip("/")
    return f"You have an appointment with {practice} on {when}. Sign in to see details: {base}/"


def _recipient(p: AppointmentParticipant) -> tuple[str, str, str]:
    """(e-mail, phone, zone) of a participant."""
    if p.client_id:
        c = p.client
        email = (c.user.email if c.user_id else "") or c.email
        return email, c.phone, client_zone(c)
    if p.membership_id:
        user = p.membership.user
        return user.email, "", user.time_zone or organisation_zone(p.membership.organisation)
    user = p.companion.user
    zone_name = user.time_zone or client_zone(p.companion.client)
    return user.email, "", zone_name


def _claim(p, offsets: list[int], channel: str, now) -> bool:
    """Record the due offsets for this channel; False when already sent (another scan)."""
    try:
        with transaction.atomic():
            ReminderSent.objects.bulk_create(
                [
                    ReminderSent(appointment_id=p.appointment_id, participant=p,
                                 offset_minutes=o, channel=channel, sent_at=now)
                    for o in offsets
                ]
            )  # fmt: skip
    except IntegrityError:
        return False
    return True


def reminders_send(*, now: datetime | None = None, organisation_id: int | None = None) -> int:
    """Send every due reminder (all practices, or one). Returns the number of messages."""
    now = now or timezone.now()
    settings_cache: dict[int, tuple[list[int], bool, str]] = {}
    horizon = now + timedelta(minutes=14 * 1440)
    rows = (
        AppointmentParticipant.objects.filter(
            live=True,
            starts_at__gt=now,
            starts_at__lte=horizon,
            appointment__status=AppointmentStatus.SCHEDULED,
        )
        .select_related(
            "appointment__organisation",
            "client__user",
            "membership__user",
            "membership__organisation",
            "companion__user",
            "companion__client__user",
        )
        .order_by("starts_at", "pk")
    )
    if organisation_id is not None:
        rows = rows.filter(organisation_id=organisation_id)
    already: dict[int, set] = {}
    for sent in ReminderSent.objects.filter(participant__in=rows).values_list(
        "participant_id", "offset_minutes", "channel"
    ):
        already.setdefault(sent[0], set()).add((sent[1], sent[2]))
    sent_count = 0
    for p in rows:
        org = p.appointment.organisation
        if org.pk not in settings_cache:
            s = settings_for(org.pk)
            sender = (s.reminder_sender_name or "").strip() or org.name
            settings_cache[org.pk] = (reminder_offsets(s), s.reminder_sms, sender)
        offsets, sms_on, sender = settings_cache[org.pk]
        due = [o for o in offsets if p.starts_at - timedelta(minutes=o) <= now]
        if not due:
            continue
        email, phone, zone_name = _recipient(p)
        body = reminder_text(practice=sender, starts_at=p.starts_at, zone_name=zone_name)
        channels = [(ReminderChannel.EMAIL, email)]
        if sms_on and phone:
            channels.append((ReminderChannel.SMS, phone))
        for channel, address in channels:
            todo = [o for o in due if (o, channel) not in already.get(p.pk, set())]
            if not todo or not address or not _claim(p, todo, channel, now):
                continue
            try:
                if channel == ReminderChannel.EMAIL:
                    send_mail(SUBJECT, body, None, [address])
                else:
                    sms.get_backend().send(address, body)
            except OSError as exc:
                # Never the exception's text: an SMTP error carries the recipient's address.
                logger.warning(
                    "reminder.send_failed",
                    extra={
                        "participant_id": p.pk,
                        "appointment_id": p.appointment_id,
                        "channel": channel,
                        "error": type(exc).__name__,
                    },
                )
                continue
            sent_count += 1
            logger.info(
                "reminder.sent",
                extra={"participant_id": p.pk, "channel": channel, "offset": min(todo)},
            )
    return sent_count
