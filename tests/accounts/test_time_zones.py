"""Times are stored in UTC and shown in the viewer's zone: their own setting, else their
organisation's (its setting, else its state's). A client's account takes their record's
state's zone when they accept the portal invitation."""

import re

import pytest
from django.core import mail

from kapflow.accounts.models import Organisation, User
from kapflow.audit.models import AuditEvent
from kapflow.clinical.geography import STATE_TIME_ZONES, state_time_zone
from kapflow.core.timezones import organisation_zone, viewer_zone
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team

pytestmark = pytest.mark.django_db


def test_every_state_has_a_zone_that_exists():
    from zoneinfo import ZoneInfo

    for code, name in STATE_TIME_ZONES.items():
        assert ZoneInfo(name), code
    assert state_time_zone("or") == "America/Los_Angeles"
    assert state_time_zone("") == "America/New_York"


def test_viewer_zone_prefers_the_person_then_the_organisation(world):
    org = Organisation(name="x", slug="x", kind="practice", state="AZ")
    assert organisation_zone(org) == "America/Phoenix"
    org.time_zone = "America/Denver"
    assert organisation_zone(org) == "America/Denver"
    user = User(email="a@example.test", time_zone="Pacific/Honolulu")
    assert viewer_zone(user, world.therapist) == "Pacific/Honolulu"
    user.time_zone = ""
    assert viewer_zone(user, world.therapist) == organisation_zone(world.practice)


def test_pages_show_the_zone_the_person_chose(client, world):
    sign_in(client, world.therapist.user)
    page = client.get("/security/").content.decode()
    assert organisation_zone(world.practice) in page
    response = client.post("/security/time-zone/", {"time_zone": "America/Chicago"})
    assert response.status_code == 302
    world.therapist.user.refresh_from_db()
    assert world.therapist.user.time_zone == "America/Chicago"
    assert (
        'data-testid="time-zone-now">America/Chicago<' in client.get("/security/").content.decode()
    )
    assert AuditEvent.objects.filter(action="user.time_zone").exists()


def test_an_unknown_zone_is_refused_and_nothing_changes(client, world):
    sign_in(client, world.therapist.user)
    client.post("/security/time-zone/", {"time_zone": "Mars/Olympus_Mons"})
    world.therapist.user.refresh_from_db()
    assert world.therapist.user.time_zone == ""


def test_a_client_in_another_state_gets_their_own_zone_on_accepting(
    client, world, django_capture_on_commit_callbacks
):
    record = ClientFactory(organisation=world.practice, email="tz.client@example.test", state="TX")
    on_team(record, world.therapist)
    make_course(record, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/clients/{record.pk}/portal-invite/")
    path = "/invite/" + re.search(r"/invite/(\S+)", mail.outbox[0].body).group(1)
    client.post("/sign-out/")
    client.post(path, {"full_name": "Tex Client", "password": "a-long-enough-passphrase"})
    record.refresh_from_db()
    assert record.user.time_zone == "America/Chicago"
