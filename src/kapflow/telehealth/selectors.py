"""Session room reads: who may sit in which room, the room's presence list, the emergency
plan shown to the therapist, and the ICE servers (STUN/TURN) a browser is given.

The seat rule is kapflow.policy.room_seat_role; whether a dosing room may admit the client
is the dosing session's own state (its start passed the whole gate and the licence check in
kapflow.encounters.services.session_start), never a second copy of those rules.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef

from kapflow import policy
from kapflow.accounts.selectors import memberships_for_user
from kapflow.audit.services import audit_not_found
from kapflow.core.errors import DomainError, NotFound
from kapflow.telehealth.models import Seat, SeatStatus, SeatVisit, TelehealthSettings, VideoRoom

# The room opens this long before the appointment's start and closes this long after its end.
OPENS_BEFORE = timedelta(minutes=30)
CLOSES_AFTER = timedelta(minutes=60)
# The local emergency number shown in the emergency plan (US practices).
EMERGENCY_NUMBER = "911"
NOT_FOUND = "Room not found."


@dataclass
class RoomAccess:
    actor: object  # Membership
    appointment: object
    role: str
    room: VideoRoom | None


def _appointments():
    from kapflow.scheduling.models import Appointment

    return Appointment.objects.select_related("organisation", "course__client").prefetch_related(
        "participants__client", "participants__companion"
    )


def room_access(*, user, appointment_id: int) -> RoomAccess:
    """The signed-in user's way into an appointment's room, or NotFound (the same answer for
    an appointment that does not exist, is not theirs, or has no room)."""
    from kapflow.scheduling.models import Appointment

    if user is None or not user.is_authenticated:
        raise NotFound(NOT_FOUND)
    memberships = memberships_for_user(user)
    by_org = {m.organisation_id: m for m in memberships}
    appointment = _appointments().filter(pk=appointment_id, organisation_id__in=by_org).first()
    actor, role = None, None
    if appointment is not None:
        actor = by_org[appointment.organisation_id]
        role = policy.room_seat_role(actor, appointment, list(appointment.participants.all()))
    if role is None:
        # A clinician the therapist invited (possibly from a partner organisation).
        seat = (
            Seat.objects.filter(
                user=user, room__appointment_id=appointment_id, invited_by__isnull=False
            )
            .select_related("room")
            .first()
        )
        if seat is not None:
            appointment = _appointments().get(pk=appointment_id)
            actor = next(
                (m for m in memberships if policy.can_be_invited_to_room(m, appointment)), None
            )
            role = seat.role if actor is not None else None
    if role is None or not appointment.telehealth:
        raise audit_not_found(
            actor=memberships[0] if memberships else None,
            model=Appointment,
            object_id=appointment_id,
            message=NOT_FOUND,
        )
    room = VideoRoom.objects.filter(appointment=appointment).first()
    return RoomAccess(actor=actor, appointment=appointment, role=role, room=room)


def uses_external_link(organisation_id: int) -> bool:
    return TelehealthSettings.objects.filter(
        organisation_id=organisation_id, use_external_link=True
    ).exists()


def room_window_refusal(appointment, now: datetime) -> DomainError | None:
    """Why the room is not open at `now`, or None."""
    from kapflow.scheduling.models import LIVE_STATUSES

    # Checked in and in session too: the room stays open while the session runs.
    if appointment.status not in LIVE_STATUSES:
        return DomainError("This appointment is not scheduled any more.", code="room.cancelled")
    if now < appointment.starts_at - OPENS_BEFORE:
        return DomainError(
            "The room opens 30 minutes before the appointment starts.", code="room.not_yet"
        )
    if now > appointment.ends_at + CLOSES_AFTER:
        return DomainError("The room closed an hour after the appointment.", code="room.closed")
    return None


def dosing_session_for(appointment):
    """The appointment's dosing session (the newest), or None."""
    from kapflow.encounters.models import DosingSession

    return (
        DosingSession.objects.filter(
            organisation_id=appointment.organisation_id, appointment_id=appointment.pk
        )
        .order_by("-opened_at")
        .first()
    )


def session_may_admit(appointment) -> bool:
    """A dosing room admits the client and companion once the session has started: its
    start checked the whole dosing gate and the licence (encounters.services.session_start).
    Other telehealth appointments admit once the therapist admits."""
    if appointment.kind != "dosing":
        return True
    session = dosing_session_for(appointment)
    return session is not None and session.state in ("in_progress", "discharged")


def in_dosing_window(appointment) -> bool:
    """The client is in the dosing window: the session has started and is not closed."""
    if appointment.kind != "dosing":
        return False
    session = dosing_session_for(appointment)
    return session is not None and session.state == "in_progress"


def presence(room: VideoRoom) -> list[dict]:
    """Seats shown to everyone in the room: role, status and whether connected; never a
    name."""
    open_visit = SeatVisit.objects.filter(seat=OuterRef("pk"), left_at__isnull=True)
    seats = (
        Seat.objects.filter(room=room)
        .exclude(status=SeatStatus.REMOVED)
        .annotate(online=Exists(open_visit))
        .order_by("pk")
    )
    return [
        {"seat": s.pk, "role": s.role, "label": s.get_role_display(), "status": s.status,
         "online": s.online}
        for s in seats
    ]  # fmt: skip


def client_of(appointment):
    if appointment.course_id:
        return appointment.course.client
    for p in appointment.participants.all():
        if p.client_id is not None:
            return p.client
    return None


def emergency_plan(room: VideoRoom | None, appointment) -> dict:
    """For the therapist only: where the client is, the local emergency number, and a phone
    for the companion."""
    client = client_of(appointment)
    address = ""
    phone = ""
    if client is not None:
        parts = [client.address_line1, client.address_line2, client.city, client.state,
                 client.postal_code]  # fmt: skip
        address = ", ".join(p for p in parts if p)
        phone = client.emergency_contact_phone
    if room is not None:
        seat = Seat.objects.filter(room=room, role="companion").exclude(callback_phone="").first()
        if seat is not None:
            phone = seat.callback_phone
    return {
        "address": address or "No address on file",
        "emergency_number": EMERGENCY_NUMBER,
        "companion_phone": phone or "No phone on file",
    }


def ice_servers(*, seat_id: int, now: datetime) -> list[dict]:
    """STUN and TURN servers for one connection. TURN credentials follow coturn's REST API
    scheme (`use-auth-secret`): the username is "<expiry unix time>:<seat id>" and the
    password base64(HMAC-SHA1(shared secret, username)); they stop working at the expiry."""
    servers = []
    if settings.TELEHEALTH_STUN_URLS:
        servers.append({"urls": list(settings.TELEHEALTH_STUN_URLS)})
    if settings.TELEHEALTH_TURN_URLS and settings.TELEHEALTH_TURN_SECRET:
        expiry = int(now.timestamp()) + int(settings.TELEHEALTH_TURN_TTL)
        username = f"{expiry}:{seat_id}"
        digest = hmac.new(
            settings.TELEHEALTH_TURN_SECRET.encode(), username.encode(), hashlib.sha1
        ).digest()
        servers.append(
            {
                "urls": list(settings.TELEHEALTH_TURN_URLS),
                "username": username,
                "credential": base64.b64encode(digest).decode(),
            }
        )
    return servers


def open_rooms_for_client(client_id: int, now: datetime) -> list[VideoRoom]:
    """The open rooms of the client's telehealth appointments around `now` (for notices)."""
    from kapflow.scheduling.models import AppointmentParticipant

    appointment_ids = AppointmentParticipant.objects.filter(
        client_id=client_id,
        starts_at__lte=now + OPENS_BEFORE,
        ends_at__gte=now - CLOSES_AFTER,
        appointment__telehealth=True,
    ).values("appointment_id")
    return list(VideoRoom.objects.filter(appointment_id__in=appointment_ids, state="open"))


@dataclass
class RoomTime:
    role: str
    joined_at: datetime
    left_at: datetime | None
    dropped: bool


def room_times(*, actor, appointment) -> list[RoomTime]:
    """Who was in the appointment's room when (each connection), for the session record and
    the billing split; the appointment must already be the actor's to see."""
    from kapflow.telehealth.models import SeatVisit

    if actor is None or actor.organisation_id != appointment.organisation_id:
        raise NotFound(NOT_FOUND)
    visits = (
        SeatVisit.objects.for_org(actor.organisation)
        .filter(seat__room__appointment=appointment)
        .select_related("seat")
        .order_by("joined_at", "pk")
    )
    return [RoomTime(v.seat.role, v.joined_at, v.left_at, v.dropped) for v in visits]


def therapist_presence(session, until):
    """encounters.presence's source: the therapist seat's connections to the room of the
    session's appointment, an open one ending at `until`; None if nobody took that seat."""
    from kapflow.telehealth.models import SeatRole, SeatVisit

    if not session.appointment_id:
        return None
    visits = list(
        SeatVisit.objects.filter(
            organisation_id=session.organisation_id,
            seat__room__appointment_id=session.appointment_id,
            seat__role=SeatRole.THERAPIST,
        ).values_list("joined_at", "left_at")
    )
    if not visits:
        return None
    return [(joined, left or until) for joined, left in visits]
