"""The practice's choice of video (decision 0049): kapflow's session room or its own
external link. Practice admins choose on a settings page (audited); the appointment and the
client's portal then show the external link instead of the room, and the room refuses."""

import re

import pytest
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError
from kapflow.patients.models import Companion
from kapflow.scheduling.models import Appointment
from kapflow.telehealth import services
from kapflow.telehealth.models import TelehealthSettings
from tests.conftest import sign_in
from tests.telehealth.factories import telehealth_appointment

pytestmark = pytest.mark.django_db

URL = "/telehealth/settings/"
EXTERNAL = "https://video.example/practice-a"


def checked(response) -> str:
    return re.search(rb'value="(\w+)"[^>]*checked', response.content).group(1).decode()


@pytest.fixture
def appt(world):
    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    appointment = telehealth_appointment(world, starts_in=60)
    Appointment.objects.filter(pk=appointment.pk).update(telehealth_url=EXTERNAL)
    return appointment


def test_admin_switches_to_the_external_link_and_back(client, world, appt):
    room_link = f'href="/telehealth/{appt.pk}/"'.encode()
    sign_in(client, world.therapist.user)
    detail = client.get(f"/schedule/{appt.pk}/")
    assert room_link in detail.content and EXTERNAL.encode() not in detail.content

    sign_in(client, world.admin.user)
    page = client.get(URL)
    assert page.status_code == 200 and checked(page) == "room"
    response = client.post(URL, {"video": "external"})
    assert response.status_code == 302
    assert TelehealthSettings.objects.get(organisation=world.practice).use_external_link
    event = AuditEvent.objects.filter(action="telehealth.settings_update").latest("pk")
    assert event.actor_id == world.admin.user_id
    assert event.changed_fields == ["use_external_link"]
    assert checked(client.get(URL)) == "external"

    # The appointment now shows the practice's own link, not the room; the room refuses.
    sign_in(client, world.therapist.user)
    detail = client.get(f"/schedule/{appt.pk}/")
    assert EXTERNAL.encode() in detail.content and room_link not in detail.content
    room = client.get(f"/telehealth/{appt.pk}/")
    assert b'data-testid="room-external"' in room.content and b'id="room"' not in room.content
    with pytest.raises(DomainError) as refused:
        services.room_enter(user=world.therapist.user, appointment_id=appt.pk)
    assert refused.value.code == "room.external"

    sign_in(client, world.admin.user)
    client.post(URL, {"video": "room"})
    assert not TelehealthSettings.objects.get(organisation=world.practice).use_external_link
    sign_in(client, world.therapist.user)
    assert room_link in client.get(f"/schedule/{appt.pk}/").content


def test_client_portal_shows_the_room_or_the_link(client, world, appt):
    sign_in(client, world.client_member.user)
    mine = client.get("/schedule/mine/")
    assert f'href="/telehealth/{appt.pk}/"'.encode() in mine.content
    TelehealthSettings.objects.create(organisation=world.practice, use_external_link=True)
    mine = client.get("/schedule/mine/")
    assert b"/telehealth/" not in mine.content
    assert EXTERNAL.encode() in mine.content  # within 24 hours of the start


@pytest.mark.parametrize("who", ["therapist", "biller", "client_member", "companion"])
def test_only_the_practice_admin_reaches_the_page(client, world, who):
    sign_in(client, getattr(world, who).user)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"video": "external"}).status_code == 404
    assert not TelehealthSettings.objects.exists()
    assert not AuditEvent.objects.filter(action="telehealth.settings_update").exists()


def test_a_bad_choice_names_the_field_and_saves_nothing(client, world):
    sign_in(client, world.admin.user)
    response = client.post(URL, {"video": "zoom"})
    assert response.status_code == 422
    assert b"id_video" in response.content and b"Select a valid choice" in response.content
    assert not TelehealthSettings.objects.exists()
    with pytest.raises(Exception) as bad:
        services.telehealth_settings_update(actor=world.admin, use_external_link="yes")
    assert "use_external_link" in str(bad.value)
    assert not TelehealthSettings.objects.exists()


def test_a_partners_admin_has_no_room_settings(client, world):
    from kapflow.accounts.models import Role
    from kapflow.core.errors import NotFound
    from tests.accounts.factories import member

    partner_admin = member(world.partner, Role.PRACTICE_ADMIN)
    with pytest.raises(NotFound):
        services.telehealth_settings_update(actor=partner_admin, use_external_link=True)
    sign_in(client, partner_admin.user)
    assert client.get(URL).status_code == 404
    assert not TelehealthSettings.objects.exists()


def test_the_companion_finds_the_room_from_their_sessions(client, world, appt):
    from kapflow.scheduling.models import AppointmentParticipant

    AppointmentParticipant.objects.create(
        organisation=world.practice, appointment=appt, role="companion",
        companion=Companion.objects.get(user=world.companion.user),
        starts_at=appt.starts_at, ends_at=appt.ends_at,
    )  # fmt: skip
    sign_in(client, world.companion.user)
    page = client.get("/schedule/companion/")
    assert f'href="/telehealth/{appt.pk}/"'.encode() in page.content
    TelehealthSettings.objects.create(organisation=world.practice, use_external_link=True)
    page = client.get("/schedule/companion/")
    assert b"/telehealth/" not in page.content and EXTERNAL.encode() not in page.content
