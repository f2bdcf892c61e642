"""A telehealth dosing appointment with its therapist, client and companion."""

import datetime

from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing.websocket import WebsocketCommunicator
from django.utils import timezone

from kapflow.encounters import services as session_services
from kapflow.scheduling.models import Appointment, AppointmentParticipant
from kapflow.telehealth.routing import websocket_urlpatterns
from tests.encounters.factories import GOOD_START, ready_course

MIN = datetime.timedelta(minutes=1)


def telehealth_appointment(world, *, starts_in=-5, kind="dosing", course=None):
    course = course or ready_course(
        world.client, world.therapist, world.prescriber, delivery="at_home"
    )
    starts_at = timezone.now() + starts_in * MIN
    appointment = Appointment.objects.create(
        organisation=course.organisation, kind=kind, course=course, starts_at=starts_at,
        ends_at=starts_at + 180 * MIN, time_zone="America/Los_Angeles", telehealth=True,
        created_by=world.therapist.user,
    )  # fmt: skip
    common = {"organisation": course.organisation, "appointment": appointment,
              "starts_at": appointment.starts_at, "ends_at": appointment.ends_at}  # fmt: skip
    AppointmentParticipant.objects.create(role="client", client=course.client, course=course,
                                          **common)  # fmt: skip
    AppointmentParticipant.objects.create(role="therapist", membership=world.therapist, **common)
    appointment.course_obj = course
    return appointment


def start_session(world, appointment):
    session = session_services.session_open(
        actor=world.therapist, course_id=appointment.course_id, appointment_id=appointment.pk
    )
    return session_services.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version, **GOOD_START
    )


def app_as(user, *, verified=True):
    """The WebSocket routes with `user` signed in (as AuthMiddlewareStack would set it)."""
    inner = URLRouter(websocket_urlpatterns)

    async def app(scope, receive, send):
        session = {"otp_device_id": "test"} if verified else {}
        return await inner(dict(scope, user=user, session=session), receive, send)

    return app


async def join(user, appointment_id, *, verified=True):
    """Connect and read the first message (welcome or refused)."""
    comm = WebsocketCommunicator(
        app_as(user, verified=verified), f"/ws/telehealth/{appointment_id}/"
    )
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_json_from(timeout=5)
    return comm, first


async def until(comm, type_, *, limit=30):
    """Read messages until one of `type_` arrives."""
    for _ in range(limit):
        message = await comm.receive_json_from(timeout=5)
        if message["type"] == type_:
            return message
    raise AssertionError(f"no {type_}")


db = sync_to_async
