"""Session room writes: enter (a seat and a visit), leave, admit, remove, invite, end, the
companion's visual check and callback phone. Each is one transaction with its audit row.

Nothing here knows WebSockets: kapflow.telehealth.consumers calls these in a thread and
tells the room what changed. Nothing is ever recorded but times and states.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kapflow import policy
from kapflow.audit.services import audit_record
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.telehealth import selectors
from kapflow.telehealth.models import (
    SEATS_MAX,
    RoomState,
    Seat,
    SeatRole,
    SeatStatus,
    SeatVisit,
    TelehealthSettings,
    VideoRoom,
    VisualCheck,
    VisualCheckAnswer,
)


@dataclass
class Entry:
    access: selectors.RoomAccess
    room: VideoRoom
    seat: Seat
    visit: SeatVisit

    @property
    def client_id(self) -> int | None:
        client = selectors.client_of(self.access.appointment)
        return client.pk if client else None


def _client_id(appointment) -> int | None:
    client = selectors.client_of(appointment)
    return client.pk if client else None


def _room_for_update(appointment) -> VideoRoom:
    room = VideoRoom.objects.select_for_update().filter(appointment=appointment).first()
    if room is None:
        try:
            with transaction.atomic():
                room = VideoRoom.objects.create(
                    organisation_id=appointment.organisation_id, appointment=appointment
                )
        except IntegrityError:  # another connection created it first
            room = VideoRoom.objects.select_for_update().get(appointment=appointment)
    return room


@transaction.atomic
def room_enter(*, user, appointment_id: int, now: datetime | None = None) -> Entry:
    """Take (or return to) one's seat in the appointment's room and record the visit. The
    therapist is admitted at once; everyone else waits until the therapist admits them."""
    now = now or clock.now()
    access = selectors.room_access(user=user, appointment_id=appointment_id)
    appointment = access.appointment
    if selectors.uses_external_link(appointment.organisation_id):
        raise DomainError(
            "This practice meets through its own video link; see the appointment.",
            code="room.external",
        )
    refusal = selectors.room_window_refusal(appointment, now)
    if refusal is not None:
        raise refusal
    room = _room_for_update(appointment)
    if room.state == RoomState.ENDED:
        raise DomainError("The therapist has ended this session room.", code="room.ended")
    seat = Seat.objects.filter(room=room, user=user).first()
    if seat is None:
        if Seat.objects.filter(room=room).exclude(status=SeatStatus.REMOVED).count() >= SEATS_MAX:
            raise DomainError("The room is full (four people at most).", code="room.full")
        host = access.role == SeatRole.THERAPIST
        seat = Seat(
            organisation_id=appointment.organisation_id, room=room, user=user,
            role=access.role, status=SeatStatus.ADMITTED if host else SeatStatus.WAITING,
            admitted_at=now if host else None, created_at=now,
        )  # fmt: skip
        seat.full_clean()
        seat.save()
    elif seat.status == SeatStatus.REMOVED:
        raise DomainError("The therapist removed you from this room.", code="room.removed")
    visit = SeatVisit.objects.create(
        organisation_id=appointment.organisation_id, seat=seat, joined_at=now
    )
    audit_record(
        actor=access.actor, action="telehealth.join", target=visit,
        client_id=_client_id(appointment),
    )  # fmt: skip
    access.room = room
    return Entry(access=access, room=room, seat=seat, visit=visit)


@transaction.atomic
def room_leave(*, entry: Entry, dropped: bool, now: datetime | None = None) -> bool:
    """Close the visit. Returns True when the therapist must be alerted: the client's or
    companion's connection dropped during the dosing window."""
    now = now or clock.now()
    updated = SeatVisit.objects.filter(pk=entry.visit.pk, left_at__isnull=True).update(
        left_at=now, dropped=dropped
    )
    if not updated:
        return False
    audit_record(
        actor=entry.access.actor, action="telehealth.leave", target=entry.visit,
        client_id=entry.client_id,
    )  # fmt: skip
    seat = Seat.objects.get(pk=entry.seat.pk)
    return (
        dropped
        and seat.status == SeatStatus.ADMITTED
        and seat.role in (SeatRole.CLIENT, SeatRole.COMPANION)
        and selectors.in_dosing_window(entry.access.appointment)
    )


def _hosted_seat(entry: Entry, seat_id: int) -> Seat:
    if not policy.can_host_room(entry.access.actor, entry.access.role):
        raise PermissionDenied("Only the therapist admits, removes and ends.")
    seat = Seat.objects.select_for_update().filter(pk=seat_id, room_id=entry.room.pk).first()
    if seat is None:
        raise NotFound("No such seat in this room.")
    if seat.pk == entry.seat.pk:
        raise DomainError("You cannot do that to your own seat.", code="room.own_seat")
    return seat


def _open_room(entry: Entry) -> VideoRoom:
    room = VideoRoom.objects.select_for_update().get(pk=entry.room.pk)
    if room.state == RoomState.ENDED:
        raise DomainError("The room has ended.", code="room.ended")
    return room


@transaction.atomic
def room_admit(*, entry: Entry, seat_id: int, now: datetime | None = None) -> Seat:
    now = now or clock.now()
    _open_room(entry)
    seat = _hosted_seat(entry, seat_id)
    if seat.status != SeatStatus.WAITING:
        raise DomainError("That person is not in the waiting room.", code="room.not_waiting")
    if seat.role in (SeatRole.CLIENT, SeatRole.COMPANION) and not selectors.session_may_admit(
        entry.access.appointment
    ):
        raise DomainError(
            "The dosing session has not started. Start it on the session screen (the dosing "
            "gate and your licence are checked there); the client and companion can then be "
            "admitted.",
            code="room.session_not_started",
        )
    seat.status = SeatStatus.ADMITTED
    seat.admitted_at = now
    seat.save(update_fields=["status", "admitted_at"])
    audit_record(
        actor=entry.access.actor, action="telehealth.admit", target=seat,
        client_id=entry.client_id,
    )  # fmt: skip
    return seat


@transaction.atomic
def room_remove(*, entry: Entry, seat_id: int) -> Seat:
    _open_room(entry)
    seat = _hosted_seat(entry, seat_id)
    seat.status = SeatStatus.REMOVED
    seat.save(update_fields=["status"])
    audit_record(
        actor=entry.access.actor, action="telehealth.remove", target=seat,
        client_id=entry.client_id,
    )  # fmt: skip
    return seat


@transaction.atomic
def room_end(*, entry: Entry, now: datetime | None = None) -> VideoRoom:
    now = now or clock.now()
    room = _open_room(entry)
    if not policy.can_host_room(entry.access.actor, entry.access.role):
        raise PermissionDenied("Only the therapist ends the room.")
    room.state = RoomState.ENDED
    room.ended_at = now
    room.ended_by_id = entry.access.actor.user_id
    room.save(update_fields=["state", "ended_at", "ended_by"])
    SeatVisit.objects.filter(seat__room=room, left_at__isnull=True).update(left_at=now)
    audit_record(
        actor=entry.access.actor, action="telehealth.end", target=room,
        client_id=entry.client_id,
    )  # fmt: skip
    return room


@transaction.atomic
def room_invite(*, entry: Entry, membership_id: int, now: datetime | None = None) -> Seat:
    """The therapist invites a prescriber or second clinician; they wait to be admitted."""
    from kapflow.accounts.models import Membership
    from kapflow.accounts.selectors import memberships_for_user

    now = now or clock.now()
    room = _open_room(entry)
    if not policy.can_host_room(entry.access.actor, entry.access.role):
        raise PermissionDenied("Only the therapist invites.")
    row = Membership.objects.filter(pk=membership_id).select_related("user").first()
    invitee = None
    if row is not None:
        invitee = next((m for m in memberships_for_user(row.user) if m.pk == row.pk), None)
    if not policy.can_be_invited_to_room(invitee, entry.access.appointment):
        raise NotFound("No such clinician.")
    if Seat.objects.filter(room=room).exclude(status=SeatStatus.REMOVED).count() >= SEATS_MAX:
        raise DomainError("The room is full (four people at most).", code="room.full")
    if Seat.objects.filter(room=room, user_id=invitee.user_id).exists():
        raise DomainError("That clinician already has a seat.", code="room.seated")
    role = SeatRole.PRESCRIBER if invitee.has_role("prescriber") else SeatRole.CLINICIAN
    seat = Seat.objects.create(
        organisation_id=room.organisation_id, room=room, user_id=invitee.user_id, role=role,
        status=SeatStatus.WAITING, invited_by_id=entry.access.actor.user_id, created_at=now,
    )  # fmt: skip
    audit_record(
        actor=entry.access.actor, action="telehealth.invite", target=seat,
        client_id=entry.client_id,
    )  # fmt: skip
    return seat


@transaction.atomic
def visual_check_prompt(*, room: VideoRoom, now: datetime | None = None) -> VisualCheck:
    """Ask the companion to look at the client (no client data is written)."""
    now = now or clock.now()
    return VisualCheck.objects.create(organisation_id=room.organisation_id, room=room,
                                      prompted_at=now)  # fmt: skip


@transaction.atomic
def visual_check_answer(
    *, entry: Entry, check_id: int, answer: str, now: datetime | None = None
) -> VisualCheck:
    now = now or clock.now()
    if entry.access.role != SeatRole.COMPANION:
        raise PermissionDenied("The companion answers the visual check.")
    if answer not in VisualCheckAnswer.values:
        raise ValidationError({"answer": ["Choose one of the answers."]})
    check = (
        VisualCheck.objects.select_for_update()
        .filter(pk=check_id, room_id=entry.room.pk, answered_at__isnull=True)
        .first()
    )
    if check is None:
        raise NotFound("No such check waiting for an answer.")
    check.answer = answer
    check.answered_at = now
    check.answered_by_id = entry.access.actor.user_id
    check.save(update_fields=["answer", "answered_at", "answered_by"])
    audit_record(
        actor=entry.access.actor, action="telehealth.visual_check", target=check,
        client_id=entry.client_id,
    )  # fmt: skip
    # The answer is the companion's check on the session's timeline too, so the session
    # screen's companion-check clock (clinical.session.vitals_due) counts it.
    session = selectors.dosing_session_for(entry.access.appointment)
    if session is not None and session.state == "in_progress" and session.at_home:
        from kapflow.encounters.services import companion_reading_add

        companion_reading_add(
            actor=entry.access.actor, session_id=session.pk, kind="check", check_state=answer,
            now=now,
        )  # fmt: skip
    return check


@transaction.atomic
def callback_phone_set(*, entry: Entry, phone: str) -> Seat:
    """The companion gives a number the therapist can call during the session."""
    phone = (phone or "").strip()
    if entry.access.role != SeatRole.COMPANION:
        raise PermissionDenied("Only the companion gives a callback phone.")
    if not phone or len(phone) > 30 or not all(c.isdigit() or c in "+-() ." for c in phone):
        raise ValidationError({"phone": ["Enter a phone number."]})
    seat = Seat.objects.select_for_update().get(pk=entry.seat.pk)
    seat.callback_phone = phone
    seat.save(update_fields=["callback_phone"])
    audit_record(
        actor=entry.access.actor, action="telehealth.callback_phone", target=seat,
        client_id=entry.client_id,
    )  # fmt: skip
    return seat


@transaction.atomic
def telehealth_settings_update(*, actor, use_external_link) -> TelehealthSettings:
    """The practice chooses kapflow's session room or its own external video link (practice
    admins). Audited with the field that changed."""
    if not policy.can_manage_practice_settings(actor):
        raise NotFound()
    if not isinstance(use_external_link, bool):
        raise ValidationError({"use_external_link": ["Choose the session room or your own link."]})
    row, _ = TelehealthSettings.objects.select_for_update().get_or_create(
        organisation=actor.organisation
    )
    changed = ["use_external_link"] if row.use_external_link != use_external_link else []
    row.use_external_link = use_external_link
    row.save()
    audit_record(
        actor=actor, action="telehealth.settings_update", target=row, changed_fields=changed
    )
    return row
