"""Room services, selectors and policy: seats, the window, the gate, invitations, TURN."""

import base64
import datetime
import hashlib
import hmac

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import Companion
from kapflow.telehealth import selectors, services
from kapflow.telehealth.models import Seat, SeatVisit, TelehealthSettings, VideoRoom
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.telehealth.factories import start_session, telehealth_appointment

pytestmark = pytest.mark.django_db


@pytest.fixture
def appt(world):
    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    return telehealth_appointment(world)


def test_seat_roles_from_the_appointment(world, appt):
    parts = list(appt.participants.select_related("client", "companion"))
    assert policy.room_seat_role(world.therapist, appt, parts) == "therapist"
    assert policy.room_seat_role(world.client_member, appt, parts) == "client"
    assert policy.room_seat_role(world.companion, appt, parts) == "companion"
    for outsider in (world.therapist2, world.biller, world.admin, world.other_therapist):
        assert policy.room_seat_role(outsider, appt, parts) is None


def test_outsider_gets_not_found_with_no_rows(world, appt):
    with pytest.raises(NotFound, match="Room not found"):
        services.room_enter(user=world.therapist2.user, appointment_id=appt.pk)
    with pytest.raises(NotFound, match="Room not found"):
        services.room_enter(user=world.therapist.user, appointment_id=appt.pk + 1000)
    assert VideoRoom.objects.count() == 0 and Seat.objects.count() == 0


def test_in_person_appointment_has_no_room(world, appt):
    appt.telehealth = False
    appt.save()
    with pytest.raises(NotFound):
        services.room_enter(user=world.therapist.user, appointment_id=appt.pk)


def test_window_around_the_start(world):
    early = telehealth_appointment(world, starts_in=45)
    with pytest.raises(DomainError) as e:
        services.room_enter(user=world.therapist.user, appointment_id=early.pk)
    assert e.value.code == "room.not_yet"
    assert (
        selectors.room_window_refusal(early, timezone.now() + datetime.timedelta(minutes=20))
        is None
    )
    late = early.ends_at + selectors.CLOSES_AFTER + datetime.timedelta(minutes=1)
    assert selectors.room_window_refusal(early, late).code == "room.closed"


def test_external_link_setting(world, appt):
    TelehealthSettings.objects.create(organisation=world.practice, use_external_link=True)
    with pytest.raises(DomainError) as e:
        services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    assert e.value.code == "room.external"


def test_therapist_admitted_others_wait_and_reconnect_to_same_seat(world, appt):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    assert host.seat.status == "admitted"
    client = services.room_enter(user=world.client_member.user, appointment_id=appt.pk)
    assert client.seat.status == "waiting"
    services.room_leave(entry=client, dropped=True)
    again = services.room_enter(user=world.client_member.user, appointment_id=appt.pk)
    assert again.seat.pk == client.seat.pk
    assert SeatVisit.objects.filter(seat=client.seat).count() == 2


def test_dosing_room_admits_client_only_after_the_gate(world, appt):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    client = services.room_enter(user=world.client_member.user, appointment_id=appt.pk)
    with pytest.raises(DomainError) as e:
        services.room_admit(entry=host, seat_id=client.seat.pk)
    assert e.value.code == "room.session_not_started"
    assert Seat.objects.get(pk=client.seat.pk).status == "waiting"
    start_session(world, appt)
    services.room_admit(entry=host, seat_id=client.seat.pk)
    assert Seat.objects.get(pk=client.seat.pk).status == "admitted"


def test_only_the_therapist_hosts(world, appt):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    client = services.room_enter(user=world.client_member.user, appointment_id=appt.pk)
    with pytest.raises(PermissionDenied):
        services.room_admit(entry=client, seat_id=host.seat.pk)
    with pytest.raises(PermissionDenied):
        services.room_end(entry=client)


def test_at_most_four_seats_and_invitations(world, appt):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    services.room_enter(user=world.client_member.user, appointment_id=appt.pk)
    services.room_enter(user=world.companion.user, appointment_id=appt.pk)
    # A partner prescriber on the client's care team may be invited, and enters.
    seat = services.room_invite(entry=host, membership_id=world.prescriber.pk)
    assert seat.role == "prescriber" and seat.status == "waiting"
    entry = services.room_enter(user=world.prescriber.user, appointment_id=appt.pk)
    assert entry.seat.pk == seat.pk
    with pytest.raises(DomainError) as e:
        services.room_invite(entry=host, membership_id=world.therapist2.pk)
    assert e.value.code == "room.full"
    # Someone from another practice cannot be invited.
    with pytest.raises(NotFound):
        services.room_invite(entry=host, membership_id=world.other_therapist.pk)


def test_visual_check_recorded_by_companion_only(world, appt):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    companion = services.room_enter(user=world.companion.user, appointment_id=appt.pk)
    check = services.visual_check_prompt(room=host.room)
    with pytest.raises(PermissionDenied):
        services.visual_check_answer(entry=host, check_id=check.pk, answer="settled")
    with pytest.raises(ValidationError):
        services.visual_check_answer(entry=companion, check_id=check.pk, answer="fine")
    done = services.visual_check_answer(entry=companion, check_id=check.pk, answer="restless")
    assert done.answer == "restless" and done.answered_by_id == world.companion.user_id


def test_drop_alerts_only_in_the_dosing_window(world, appt):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    companion = services.room_enter(user=world.companion.user, appointment_id=appt.pk)
    start_session(world, appt)
    services.room_admit(entry=host, seat_id=companion.seat.pk)
    assert services.room_leave(entry=companion, dropped=True) is True
    again = services.room_enter(user=world.companion.user, appointment_id=appt.pk)
    assert services.room_leave(entry=again, dropped=False) is False
    assert services.room_leave(entry=host, dropped=True) is False


def test_emergency_plan(world, appt):
    world.client.address_line1 = "1 Test Street"
    world.client.city = "Portland"
    world.client.emergency_contact_phone = "555-0100"
    world.client.save()
    plan = selectors.emergency_plan(None, appt)
    assert plan["address"].startswith("1 Test Street, Portland")
    assert plan["emergency_number"] == "911"
    assert plan["companion_phone"] == "555-0100"
    companion = services.room_enter(user=world.companion.user, appointment_id=appt.pk)
    services.callback_phone_set(entry=companion, phone="+1 555 0199")
    assert selectors.emergency_plan(companion.room, appt)["companion_phone"] == "+1 555 0199"


def test_turn_credentials_follow_coturn_rest_scheme(settings):
    settings.TELEHEALTH_STUN_URLS = ["stun:turn.example.test:3478"]
    settings.TELEHEALTH_TURN_URLS = ["turn:turn.example.test:3478?transport=udp"]
    settings.TELEHEALTH_TURN_SECRET = "s3cret"
    settings.TELEHEALTH_TURN_TTL = 600
    now = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    stun, turn = selectors.ice_servers(seat_id=42, now=now)
    assert stun == {"urls": ["stun:turn.example.test:3478"]}
    expiry = int(now.timestamp()) + 600
    assert turn["username"] == f"{expiry}:42"
    expected = base64.b64encode(
        hmac.new(b"s3cret", f"{expiry}:42".encode(), hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected


def test_no_turn_without_secret(settings):
    settings.TELEHEALTH_STUN_URLS = []
    settings.TELEHEALTH_TURN_URLS = ["turn:x.test"]
    settings.TELEHEALTH_TURN_SECRET = ""
    assert selectors.ice_servers(seat_id=1, now=timezone.now()) == []


def test_room_page(client, world, appt):
    sign_in(client, world.therapist.user)
    response = client.get(f"/telehealth/{appt.pk}/")
    assert response.status_code == 200
    assert b'data-testid="emergency-plan"' in response.content
    assert "camera=(self)" in response["Permissions-Policy"]
    sign_in(client, world.therapist2.user)
    assert client.get(f"/telehealth/{appt.pk}/").status_code == 404
    sign_in(client, world.companion.user)
    response = client.get(f"/telehealth/{appt.pk}/")
    assert response.status_code == 200 and b"emergency-plan" not in response.content


def test_companion_of_another_client_is_refused(world, appt):
    stranger = member(world.practice, Role.COMPANION)
    with pytest.raises(NotFound):
        services.room_enter(user=stranger.user, appointment_id=appt.pk)


def test_room_times_for_the_record(world, appt, django_assert_num_queries):
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    client = services.room_enter(user=world.client_member.user, appointment_id=appt.pk)
    services.room_leave(entry=client, dropped=True)
    with django_assert_num_queries(1):
        times = selectors.room_times(actor=world.therapist, appointment=appt)
    assert [(t.role, t.left_at is not None, t.dropped) for t in times] == [
        ("therapist", False, False),
        ("client", True, True),
    ]
    assert host.visit.joined_at == times[0].joined_at
    with pytest.raises(NotFound):
        selectors.room_times(actor=world.other_therapist, appointment=appt)


def test_session_screen_links_to_the_room(client, world, appt):
    session = start_session(world, appt)
    sign_in(client, world.therapist.user)
    response = client.get(f"/sessions/{session.pk}/")
    assert f'href="/telehealth/{appt.pk}/"'.encode() in response.content


def test_visual_check_goes_on_the_session_timeline(world, appt):
    from kapflow.encounters.models import TimelineEntry

    session = start_session(world, appt)
    host = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    companion = services.room_enter(user=world.companion.user, appointment_id=appt.pk)
    services.room_admit(entry=host, seat_id=companion.seat.pk)
    check = services.visual_check_prompt(room=host.room)
    services.visual_check_answer(entry=companion, check_id=check.pk, answer="settled")
    entry = TimelineEntry.objects.get(session=session, kind="observation")
    assert entry.source == "companion" and entry.data["check"] == "settled"


def test_the_discharge_bills_the_therapists_time_in_the_room(world):
    """Joined and left times feed the billing split: 150 minutes from start to discharge,
    of which the therapist was in the room for 40 + 80 (a 15-minute drop not billed)."""
    from kapflow.encounters import services as encounter_services
    from tests.encounters.factories import GOOD_START, GOOD_VITALS, MIN

    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    appt = telehealth_appointment(world, starts_in=-160)
    start = timezone.now() - 150 * MIN
    session = encounter_services.session_open(
        actor=world.therapist, course_id=appt.course_id, appointment_id=appt.pk, now=start
    )
    session = encounter_services.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version, now=start,
        **GOOD_START,
    )  # fmt: skip
    encounter_services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
        amount=200, occurred_at=start, now=start,
    )  # fmt: skip
    encounter_services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals",
        occurred_at=start + 125 * MIN, now=start + 125 * MIN, **GOOD_VITALS,
    )  # fmt: skip
    entry = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    SeatVisit.objects.filter(pk=entry.visit.pk).update(
        joined_at=start - 5 * MIN, left_at=start + 40 * MIN, dropped=True
    )
    again = services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    SeatVisit.objects.filter(pk=again.visit.pk).update(joined_at=start + 55 * MIN)
    # The client's connection is not the therapist's time.
    SeatVisit.objects.create(
        organisation=appt.organisation,
        seat=Seat.objects.create(
            organisation=appt.organisation, room=entry.seat.room, user=world.client_member.user,
            role="client", status="admitted",
        ),
        joined_at=start,
    )  # fmt: skip
    session.refresh_from_db()
    closed = encounter_services.session_discharge(
        actor=world.therapist, session_id=session.pk, version=session.version,
        alert_oriented=True, walks_steadily=True, escort_present=True,
    )  # fmt: skip
    # 40 minutes, then from 55 to the discharge at 150 (or 151 as the clock moved on).
    assert closed.minutes in (40 + 95, 40 + 96)
    assert closed.first_hour_minutes == 60
    assert closed.additional_minutes == closed.minutes - 60


def test_without_the_therapist_in_the_room_the_clock_is_billed(world, appt):
    from kapflow.encounters import presence

    session = start_session(world, appt)
    assert presence.therapist_intervals(session, until=timezone.now()) is None
