"""The room's signalling: one WebSocket per person in the room.

The browser's WebRTC peers exchange offers, answers and ICE candidates through here; media
goes browser to browser (or through TURN), never through kapflow, and nothing is recorded.
Besides the relay: presence and connection states, chat (shown, never stored), the waiting
room (the therapist admits, removes, invites and ends), the companion's visual check, and the
notices the therapist must see at once (a drop during the dosing window with the emergency
plan; check-ins and "need help now", sent by kapflow.telehealth.signals).

Groups on the channel layer: `room.<id>` (everyone admitted), `room.<id>.host` (the
therapist), `seat.<id>` (one person, for relayed signals and their own admission).
Every message is validated (kapflow.telehealth.protocol); a bad one is answered to its sender
and dropped, never closing anyone else's connection. Logs carry ids and codes only.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ValidationError

from kapflow.core.errors import DomainError
from kapflow.telehealth import protocol, selectors, services
from kapflow.telehealth.models import Seat, SeatRole, SeatStatus

logger = logging.getLogger(__name__)

CLOSE_REFUSED = 4403
CLOSE_REMOVED = 4001
CLOSE_ENDED = 4002
CLOSE_FLOOD = 4429
# A socket that keeps flooding after this many refused messages is closed (its own only).
FLOOD_CLOSE_AFTER = 500


def _staff_needs_mfa(scope, user) -> bool:
    from kapflow.accounts.selectors import memberships_for_user

    if scope.get("session", {}).get("otp_device_id"):
        return False
    return any(m.is_staff_member for m in memberships_for_user(user))


class RoomConsumer(AsyncWebsocketConsumer):
    entry = None
    bucket = None
    refused = 0
    left_cleanly = False
    check_task = None

    # ---- connection ----------------------------------------------------------------------

    async def connect(self):
        self.bucket = protocol.Bucket()
        user = self.scope.get("user")
        appointment_id = int(self.scope["url_route"]["kwargs"]["appointment_id"])
        await self.accept()
        try:
            self.entry = await database_sync_to_async(self._enter)(user, appointment_id)
        except DomainError as e:
            await self._send({"type": "refused", "code": e.code or "room.refused",
                              "message": e.message})  # fmt: skip
            await self.close(code=CLOSE_REFUSED)
            return
        seat = self.entry.seat
        await self.channel_layer.group_add(seat.group_name, self.channel_name)
        if self.entry.access.role == SeatRole.THERAPIST:
            await self.channel_layer.group_add(self.entry.room.host_group_name, self.channel_name)
        if seat.status == SeatStatus.ADMITTED:
            await self.channel_layer.group_add(self.entry.room.group_name, self.channel_name)
        logger.info("room.join", extra={"room_id": self.entry.room.pk, "seat_id": seat.pk})
        welcome = await database_sync_to_async(self._welcome)()
        await self._send(welcome)
        await self._broadcast_presence()
        if seat.status == SeatStatus.ADMITTED:
            self._start_checks()

    def _enter(self, user, appointment_id):
        if user is not None and user.is_authenticated and _staff_needs_mfa(self.scope, user):
            raise DomainError("Room not found.", code="room.not_found")
        return services.room_enter(user=user, appointment_id=appointment_id)

    def _welcome(self) -> dict:
        entry = self.entry
        message = {
            "type": "welcome",
            "seat": entry.seat.pk,
            "role": entry.access.role,
            "status": entry.seat.status,
            "ice_servers": selectors.ice_servers(seat_id=entry.seat.pk, now=entry.visit.joined_at),
            "presence": selectors.presence(entry.room),
        }
        return message

    async def disconnect(self, code):
        if self.check_task is not None:
            self.check_task.cancel()
        if self.entry is None:
            return
        room = self.entry.room
        for group in (self.entry.seat.group_name, room.group_name, room.host_group_name):
            await self.channel_layer.group_discard(group, self.channel_name)
        alert = await database_sync_to_async(self._leave)(not self.left_cleanly)
        logger.info("room.leave", extra={"room_id": room.pk, "seat_id": self.entry.seat.pk})
        await self._broadcast_presence()
        if alert is not None:
            await self.channel_layer.group_send(room.host_group_name, alert)

    def _leave(self, dropped: bool):
        must_alert = services.room_leave(entry=self.entry, dropped=dropped)
        if not must_alert:
            return None
        return {
            "type": "room.notice",
            "notice": {
                "type": "alert",
                "kind": "drop",
                "role": self.entry.access.role,
                "seat": self.entry.seat.pk,
                "plan": selectors.emergency_plan(self.entry.room, self.entry.access.appointment),
            },
        }

    # ---- incoming ------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.entry is None:
            return
        if not self.bucket.take():
            self.refused += 1
            if self.refused == 1 or self.refused % 50 == 0:
                await self._error("rate_limited", "Too many messages; slow down.")
            if self.refused >= FLOOD_CLOSE_AFTER:
                await self.close(code=CLOSE_FLOOD)
            return
        try:
            message = protocol.parse(text_data, json.loads)
        except protocol.Invalid as e:
            await self._error(e.code, e.message)
            return
        handler = getattr(self, "on_" + message["type"])
        try:
            await handler(message)
        except DomainError as e:
            await self._error(e.code or "refused", e.message)
        except ValidationError as e:
            await self._error("invalid", " ".join(e.messages))

    def _admitted(self) -> bool:
        return self.entry.seat.status == SeatStatus.ADMITTED

    async def on_ping(self, message):
        await self._send({"type": "pong"})

    async def on_leave(self, message):
        self.left_cleanly = True
        await self.close()

    async def on_signal(self, message):
        if not self._admitted():
            raise DomainError("Wait to be admitted.", code="not_admitted")
        to = message["to"]
        ok = await database_sync_to_async(
            Seat.objects.filter(
                pk=to, room_id=self.entry.room.pk, status=SeatStatus.ADMITTED
            ).exists
        )()
        if not ok or to == self.entry.seat.pk:
            raise DomainError("No such person in this room.", code="no_peer")
        relay = {k: message[k] for k in ("kind", "sdp", "candidate") if k in message}
        await self.channel_layer.group_send(
            f"seat.{to}", {"type": "room.relay", "message": {"type": "signal",
                                                             "from": self.entry.seat.pk,
                                                             **relay}}
        )  # fmt: skip

    async def on_chat(self, message):
        if not self._admitted():
            raise DomainError("Wait to be admitted.", code="not_admitted")
        text = message["text"].strip()
        await self._room_send(
            {"type": "chat", "from": self.entry.seat.pk, "role": self.entry.access.role,
             "text": text}
        )  # fmt: skip

    async def on_state(self, message):
        if not self._admitted():
            raise DomainError("Wait to be admitted.", code="not_admitted")
        await self._room_send({"type": "state", "seat": self.entry.seat.pk,
                               "peer": message.get("peer"), "state": message["state"]})  # fmt: skip

    async def on_admit(self, message):
        seat = await database_sync_to_async(services.room_admit)(
            entry=self.entry, seat_id=message["seat"]
        )
        await self.channel_layer.group_send(seat.group_name, {"type": "seat.admitted"})

    async def on_remove(self, message):
        seat = await database_sync_to_async(services.room_remove)(
            entry=self.entry, seat_id=message["seat"]
        )
        await self.channel_layer.group_send(seat.group_name, {"type": "seat.removed"})
        await self._broadcast_presence()

    async def on_invite(self, message):
        await database_sync_to_async(services.room_invite)(
            entry=self.entry, membership_id=message["membership"]
        )
        await self._broadcast_presence()

    async def on_end(self, message):
        await database_sync_to_async(services.room_end)(entry=self.entry)
        seats = await database_sync_to_async(
            lambda: list(
                Seat.objects.filter(room_id=self.entry.room.pk).values_list("pk", flat=True)
            )
        )()
        for seat_id in seats:
            await self.channel_layer.group_send(f"seat.{seat_id}", {"type": "room.ended"})

    async def on_check_now(self, message):
        if self.entry.access.role != SeatRole.THERAPIST:
            raise DomainError("Only the therapist asks for a check.", code="not_host")
        await self._prompt_check()

    async def on_check_answer(self, message):
        check = await database_sync_to_async(services.visual_check_answer)(
            entry=self.entry, check_id=message["check"], answer=message["answer"]
        )
        await self._send({"type": "check_recorded", "check": check.pk})
        await self.channel_layer.group_send(
            self.entry.room.host_group_name,
            {"type": "room.notice", "notice": {"type": "check_answered", "check": check.pk,
                                               "answer": check.answer,
                                               "label": check.get_answer_display()}},
        )  # fmt: skip

    async def on_phone(self, message):
        await database_sync_to_async(services.callback_phone_set)(
            entry=self.entry, phone=message["phone"]
        )
        await self._send({"type": "phone_recorded"})

    # ---- the 15-minute visual check ------------------------------------------------------

    def _start_checks(self):
        if self.entry.access.role == SeatRole.COMPANION and self.check_task is None:
            self.check_task = asyncio.ensure_future(self._check_loop())

    async def _check_loop(self):
        from kapflow.encounters.selectors import session_policy

        minutes = await database_sync_to_async(
            lambda: session_policy(self.entry.room.organisation_id).companion_check_minutes
        )()
        while True:
            await asyncio.sleep(minutes * 60)
            window = await database_sync_to_async(selectors.in_dosing_window)(
                self.entry.access.appointment
            )
            if window:
                await self._prompt_check()

    async def _prompt_check(self):
        check = await database_sync_to_async(services.visual_check_prompt)(room=self.entry.room)
        notice = {"type": "check_prompt", "check": check.pk}
        companions = await database_sync_to_async(
            lambda: list(
                Seat.objects.filter(
                    room_id=self.entry.room.pk, role=SeatRole.COMPANION,
                    status=SeatStatus.ADMITTED,
                ).values_list("pk", flat=True)
            )
        )()  # fmt: skip
        for seat_id in companions:
            await self.channel_layer.group_send(
                f"seat.{seat_id}", {"type": "room.relay", "message": notice}
            )
        await self.channel_layer.group_send(
            self.entry.room.host_group_name,
            {"type": "room.notice", "notice": {"type": "check_prompted", "check": check.pk}},
        )

    # ---- events from the channel layer ---------------------------------------------------

    async def room_relay(self, event):
        await self._send(event["message"])

    async def room_notice(self, event):
        await self._send(event["notice"])

    async def room_presence(self, event):
        await self._send({"type": "presence", "presence": event["presence"]})

    async def seat_admitted(self, event):
        self.entry.seat.status = SeatStatus.ADMITTED
        await self.channel_layer.group_add(self.entry.room.group_name, self.channel_name)
        await self._send({"type": "admitted", "seat": self.entry.seat.pk})
        await self._broadcast_presence()
        self._start_checks()

    async def seat_removed(self, event):
        self.entry.seat.status = SeatStatus.REMOVED
        self.left_cleanly = True
        await self._send({"type": "removed"})
        await self.close(code=CLOSE_REMOVED)

    async def room_ended(self, event):
        self.left_cleanly = True
        await self._send({"type": "ended"})
        await self.close(code=CLOSE_ENDED)

    # ---- helpers -------------------------------------------------------------------------

    async def _send(self, message: dict):
        await self.send(text_data=json.dumps(message))

    async def _error(self, code: str, message: str):
        await self._send({"type": "error", "code": code, "message": message})

    async def _room_send(self, message: dict):
        await self.channel_layer.group_send(
            self.entry.room.group_name, {"type": "room.relay", "message": message}
        )

    async def _broadcast_presence(self):
        presence = await database_sync_to_async(selectors.presence)(self.entry.room)
        event = {"type": "room.presence", "presence": presence}
        await self.channel_layer.group_send(self.entry.room.group_name, event)
        # The therapist sees the waiting room too (already in the room group when admitted).
