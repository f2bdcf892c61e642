"""The room's WebSocket: who gets in, the waiting room, isolation between rooms, and bad or
too many messages refused to their sender only."""

import json

import pytest
from asgiref.sync import sync_to_async

from kapflow.audit.models import AuditEvent
from kapflow.telehealth.models import Seat, SeatVisit, VisualCheck
from kapflow.telehealth.protocol import MESSAGE_MAX
from tests.telehealth.factories import join, start_session, telehealth_appointment, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(autouse=True)
async def _close_thread_connections(anyio_backend):
    """The consumer's database calls run in channels' worker thread; close its connection
    so PostgreSQL's test database can be dropped at the end."""
    yield
    from channels.db import database_sync_to_async
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def room(world):
    appointment = telehealth_appointment(world)
    from django.utils import timezone

    from kapflow.patients.models import Companion

    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    return appointment


async def _admit(host, seat_id):
    await host.send_json_to({"type": "admit", "seat": seat_id})


async def test_outsider_refused_without_learning_whose_room(world, room):
    for member in (world.therapist2, world.other_therapist, world.biller):
        comm, first = await join(member.user, room.pk)
        assert first == {"type": "refused", "code": None, "message": "Room not found."} or (
            first["type"] == "refused" and first["message"] == "Room not found."
        )
        assert "client" not in json.dumps(first).lower()
        output = await comm.receive_output(timeout=5)
        assert output["type"] == "websocket.close"
    # The same answer for a room that does not exist.
    comm, first = await join(world.therapist.user, 999_999)
    assert first["message"] == "Room not found."


async def test_staff_without_mfa_refused(world, room):
    _, first = await join(world.therapist.user, room.pk, verified=False)
    assert first["type"] == "refused"


async def test_waiting_room_then_admit_after_session_start(world, room):
    host, welcome = await join(world.therapist.user, room.pk)
    assert welcome["type"] == "welcome" and welcome["status"] == "admitted"
    client, waiting = await join(world.client_member.user, room.pk)
    assert waiting["status"] == "waiting"
    # A waiting client cannot signal or chat.
    await client.send_json_to({"type": "chat", "text": "hello"})
    assert (await until(client, "error"))["code"] == "not_admitted"
    # The dosing room admits the client only once the session has started (the gate).
    await _admit(host, waiting["seat"])
    error = await until(host, "error")
    assert error["code"] == "room.session_not_started"
    await sync_to_async(start_session)(world, room)
    await _admit(host, waiting["seat"])
    assert (await until(client, "admitted"))["seat"] == waiting["seat"]
    presence = await until(host, "presence")
    assert {p["role"] for p in presence["presence"]} >= {"therapist", "client"}
    # Signals are relayed to the named seat only.
    await client.send_json_to({"type": "signal", "to": welcome["seat"], "kind": "offer",
                               "sdp": "v=0"})  # fmt: skip
    relayed = await until(host, "signal")
    assert relayed["from"] == waiting["seat"] and relayed["kind"] == "offer"
    await client.send_json_to({"type": "chat", "text": "hi"})
    assert (await until(host, "chat"))["text"] == "hi"
    await client.disconnect()
    await host.disconnect()
    visits = await sync_to_async(
        lambda: list(SeatVisit.objects.values_list("left_at", flat=True))
    )()
    assert len(visits) == 2 and all(visits)
    actions = await sync_to_async(
        lambda: set(AuditEvent.objects.filter(action__startswith="telehealth.").values_list(
            "action", flat=True))
    )()  # fmt: skip
    assert {"telehealth.join", "telehealth.leave", "telehealth.admit"} <= actions


async def test_companion_drop_in_dosing_window_alerts_with_plan(world, room):
    await sync_to_async(start_session)(world, room)
    host, _ = await join(world.therapist.user, room.pk)
    companion, waiting = await join(world.companion.user, room.pk)
    assert waiting["role"] == "companion"
    await _admit(host, waiting["seat"])
    await until(companion, "admitted")
    # The visual check: asked, answered, recorded.
    await host.send_json_to({"type": "check_now"})
    prompt = await until(companion, "check_prompt")
    await companion.send_json_to({"type": "check_answer", "check": prompt["check"],
                                  "answer": "settled"})  # fmt: skip
    answered = await until(host, "check_answered")
    assert answered["answer"] == "settled"
    check = await sync_to_async(VisualCheck.objects.get)(pk=prompt["check"])
    assert check.answered_at is not None
    # The companion's network drops (no "leave"): the therapist is alerted with the plan.
    await companion.disconnect()
    alert = await until(host, "alert")
    assert alert["kind"] == "drop" and alert["role"] == "companion"
    assert alert["plan"]["emergency_number"] == "911"
    # Reconnecting returns to the same seat, still admitted.
    again, welcome2 = await join(world.companion.user, room.pk)
    assert welcome2["seat"] == waiting["seat"] and welcome2["status"] == "admitted"
    await again.disconnect()
    await host.disconnect()


async def test_rooms_are_isolated(world, room):
    from kapflow.patients.models import Client
    from tests.patients.factories import on_team

    other_client = await sync_to_async(lambda: Client.objects.exclude(pk=world.client.pk).filter(
        organisation=world.practice).first())()  # fmt: skip

    def other_room():
        on_team(other_client, world.therapist2)
        from tests.encounters.factories import ready_course

        course = ready_course(other_client, world.therapist2, delivery="at_home")
        w = type("W", (), {"therapist": world.therapist2, "client": other_client,
                           "prescriber": None})()  # fmt: skip
        return telehealth_appointment(w, course=course)

    second = await sync_to_async(other_room)()
    host_a, _ = await join(world.therapist.user, room.pk)
    host_b, welcome_b = await join(world.therapist2.user, second.pk)
    await until(host_b, "presence")
    # A cannot signal B's seat, and B hears nothing of A's chat.
    await host_a.send_json_to({"type": "signal", "to": welcome_b["seat"], "kind": "offer",
                               "sdp": "v=0"})  # fmt: skip
    assert (await until(host_a, "error"))["code"] == "no_peer"
    await host_a.send_json_to({"type": "chat", "text": "only room A"})
    await until(host_a, "chat")
    assert await host_b.receive_nothing(timeout=0.3)
    await host_a.disconnect()
    await host_b.disconnect()


async def test_malformed_and_oversized_refused_without_closing_others(world, room):
    await sync_to_async(start_session)(world, room)
    host, _ = await join(world.therapist.user, room.pk)
    client, waiting = await join(world.client_member.user, room.pk)
    await _admit(host, waiting["seat"])
    await until(client, "admitted")
    bad = [
        "not json",
        "[]",
        json.dumps({"type": "nope"}),
        json.dumps({"type": "chat"}),
        json.dumps({"type": "chat", "text": "x", "extra": 1}),
        json.dumps({"type": "signal", "to": "1", "kind": "offer", "sdp": "v=0"}),
        json.dumps({"type": "signal", "to": 1, "kind": "offer"}),
        json.dumps({"type": "admit", "seat": True}),
    ]
    for text in bad:
        await client.send_to(text_data=text)
        error = await until(client, "error")
        assert error["code"] in ("malformed", "unknown_type")
    await client.send_to(text_data=json.dumps({"type": "chat", "text": "x" * (MESSAGE_MAX + 1)}))
    assert (await until(client, "error"))["code"] == "too_large"
    await client.send_to(bytes_data=b"\x00")
    assert (await until(client, "error"))["code"] == "text_only"
    # The client is not the host.
    await client.send_json_to({"type": "end"})
    assert (await until(client, "error"))["code"] == "permission_denied"
    # Both connections still work.
    await client.send_json_to({"type": "chat", "text": "still here"})
    assert (await until(host, "chat"))["text"] == "still here"
    await client.disconnect()
    await host.disconnect()


async def test_flood_is_rate_limited_for_that_socket_only(world, room):
    host, _ = await join(world.therapist.user, room.pk)
    flooder, _ = await join(world.client_member.user, room.pk)
    for _ in range(200):
        await flooder.send_json_to({"type": "ping"})
    seen = set()
    for _ in range(200):
        message = await flooder.receive_json_from(timeout=5)
        seen.add(message.get("code") or message["type"])
        if "rate_limited" in seen:
            break
    assert "rate_limited" in seen
    await host.send_json_to({"type": "ping"})
    assert (await until(host, "pong"))["type"] == "pong"
    await flooder.disconnect()
    await host.disconnect()


async def test_remove_and_end(world, room):
    await sync_to_async(start_session)(world, room)
    host, _ = await join(world.therapist.user, room.pk)
    client, waiting = await join(world.client_member.user, room.pk)
    await _admit(host, waiting["seat"])
    await until(client, "admitted")
    await host.send_json_to({"type": "remove", "seat": waiting["seat"]})
    await until(client, "removed")
    _, refused = await join(world.client_member.user, room.pk)
    assert refused["code"] == "room.removed"
    companion, _ = await join(world.companion.user, room.pk)
    await host.send_json_to({"type": "end"})
    await until(companion, "ended")
    await until(host, "ended")
    seat = await sync_to_async(Seat.objects.get)(pk=waiting["seat"])
    assert seat.status == "removed"
