"""Two ASGI server processes on one Redis: the therapist's socket on one, the client's on the
other, and each sees the other in the room (the channel layer is Redis when REDIS_URL is
set). PostgreSQL only: the processes share the test database."""

import asyncio
import json

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from tests.conftest import sign_in
from tests.runtime.processes import Processes, free_port, needs_postgresql, wait_http
from tests.telehealth.factories import start_session, telehealth_appointment

pytestmark = [needs_postgresql(), pytest.mark.process, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def _redis_or_skip():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")


async def _join(port: int, appointment_id: int, cookie: str):
    import websockets

    socket = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/telehealth/{appointment_id}/",
        additional_headers={"Cookie": cookie},
        origin=f"http://127.0.0.1:{port}",
    )
    welcome = json.loads(await asyncio.wait_for(socket.recv(), 30))
    return socket, welcome


async def _until(socket, type_):
    for _ in range(50):
        message = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if message["type"] == type_:
            return message
    raise AssertionError(type_)


def test_a_participant_on_each_process_sees_the_other(client, world, processes):
    _redis_or_skip()
    prefix = f"teletest{free_port()}"
    # Sessions live in Redis when REDIS_URL is set: sign in through the same cache.
    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    from django.utils import timezone

    from kapflow.patients.models import Companion

    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    appointment = telehealth_appointment(world)
    start_session(world, appointment)
    cookies = {}
    with override_settings(CACHES=cache, SESSION_ENGINE="django.contrib.sessions.backends.cache"):
        for name, member in (("host", world.therapist), ("client", world.client_member)):
            client.cookies.clear()
            sign_in(client, member.user)
            cookies[name] = f"{settings.SESSION_COOKIE_NAME}={client.cookies['sessionid'].value}"
    ports = [free_port(), free_port()]
    env = {"REDIS_URL": REDIS_URL, "KAPFLOW_CACHE_PREFIX": prefix, "KAPFLOW_DB_POOL_MAX": "2"}
    started = [processes.gunicorn(port, workers=1, **env) for port in ports]
    for port, process in zip(ports, started, strict=True):
        wait_http(f"http://127.0.0.1:{port}", process)

    async def scenario():
        host, host_welcome = await _join(ports[0], appointment.pk, cookies["host"])
        assert host_welcome["type"] == "welcome", host_welcome
        guest, guest_welcome = await _join(ports[1], appointment.pk, cookies["client"])
        assert guest_welcome["status"] == "waiting", guest_welcome
        await host.send(json.dumps({"type": "admit", "seat": guest_welcome["seat"]}))
        admitted = await _until(guest, "admitted")
        assert admitted["seat"] == guest_welcome["seat"]
        await guest.send(json.dumps({"type": "chat", "text": "across processes"}))
        chat = await _until(host, "chat")
        assert chat["text"] == "across processes"
        await host.send(json.dumps({"type": "signal", "to": guest_welcome["seat"],
                                    "kind": "offer", "sdp": "v=0"}))  # fmt: skip
        assert (await _until(guest, "signal"))["from"] == host_welcome["seat"]
        await host.close()
        await guest.close()

    asyncio.run(scenario())
