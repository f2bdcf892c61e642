"""Scheduling test helpers: times in the world's practice zone (Oregon: Los Angeles),
rooms, and a booking with sensible defaults."""

from datetime import datetime
from zoneinfo import ZoneInfo

from kapflow.scheduling import services
from kapflow.scheduling.models import Room

LA = ZoneInfo("America/Los_Angeles")


def at(*args) -> datetime:
    """A local time in the practice's zone (a Monday: 2027-03-01)."""
    return datetime(*args, tzinfo=LA)


def room(organisation, name="Cedar") -> Room:
    return Room.objects.create(organisation=organisation, name=name)


def book(actor, client, *, kind="therapy", starts_at=None, confirm=True, **kwargs):
    kwargs.setdefault("telehealth", "room_id" not in kwargs)
    if "course_ids" not in kwargs and client is not None:
        kwargs.setdefault("client_ids", [client.pk])
    return services.appointment_book(
        actor=actor, kind=kind, starts_at=starts_at or at(2027, 3, 1, 10), confirm=confirm,
        **kwargs,
    )  # fmt: skip
