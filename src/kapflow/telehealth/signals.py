"""Notices into open rooms: a companion's check-in and a "need help now" alert reach the
room as soon as they commit (they are written by kapflow.patients and kapflow.alerts, which
know nothing of rooms). The notice carries the kind and state, never a note."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from kapflow.alerts.models import Alert, AlertKind
from kapflow.core import clock
from kapflow.patients.models import CompanionCheckin

logger = logging.getLogger(__name__)


def _notify(client_id: int, notice: dict, *, everyone: bool) -> None:
    from kapflow.telehealth.selectors import open_rooms_for_client

    layer = get_channel_layer()
    if layer is None:
        return
    for room in open_rooms_for_client(client_id, clock.now()):
        group = room.group_name if everyone else room.host_group_name
        try:
            async_to_sync(layer.group_send)(group, {"type": "room.notice", "notice": notice})
        except Exception:  # the room is a convenience; the alert itself is already stored
            logger.warning("room.notice_failed", extra={"room_id": room.pk})


@receiver(post_save, sender=Alert)
def alert_to_room(sender, instance: Alert, created: bool, **kwargs):
    if not created or instance.kind != AlertKind.HELP_NOW:
        return
    notice = {"type": "help_now", "alert": instance.pk, "raised_by": instance.raised_by_role}
    client_id = instance.client_id
    transaction.on_commit(lambda: _notify(client_id, notice, everyone=True))


@receiver(post_save, sender=CompanionCheckin)
def checkin_to_room(sender, instance: CompanionCheckin, created: bool, **kwargs):
    if not created:
        return
    notice = {"type": "checkin", "checkin": instance.pk, "state": instance.state,
              "label": instance.get_state_display()}  # fmt: skip
    client_id = instance.client_id
    transaction.on_commit(lambda: _notify(client_id, notice, everyone=False))
