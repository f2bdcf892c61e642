"""Alarms reach the person who can act: the companion's "Need help now" and check-ins
appear in the open session screen's polled live region, named, timed (zone named) and
announced, in a fixed number of queries; nothing for a closed session."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.alerts.services import alert_raise
from kapflow.encounters import services
from kapflow.patients.models import Companion
from kapflow.patients.services import companion_checkin_record
from tests.conftest import sign_in
from tests.encounters.factories import opened, ready_course

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def session(world):
    course = ready_course(world.client, world.therapist, world.prescriber, delivery="at_home")
    world.companion.user.full_name = "Robin Companion"
    world.companion.user.save()
    return opened(world.therapist, course)


def _companion(world):
    return Companion.objects.get(user=world.companion.user)


def _live(client, session):
    url = reverse("encounters:live", args=[session.pk])
    return client.get(url, {"state": session.state}, **HTMX)


def _alarms(body: str) -> str:
    return body.split('data-testid="session-alarms"')[1].split("</section>")[0]


def test_need_help_now_shows_on_the_open_session_screen(client, world, session):
    sign_in(client, world.therapist.user)
    assert 'data-testid="session-alarms"' not in _live(client, session).content.decode()
    alert_raise(actor=world.companion, client_id=world.client.pk, kind="help_now", answers={})
    body = _live(client, session).content.decode()
    section = body.split('data-testid="session-alarms"')[0].rsplit("<section", 1)[1]
    assert 'role="alert"' in section and 'aria-live="assertive"' in section
    alarm = _alarms(body)
    assert "NEED HELP NOW" in alarm and "Robin Companion" in alarm and "the companion" in alarm
    assert "America/Los_Angeles" in alarm and "<time datetime=" in alarm
    # The full page carries it too (a page load, not only the poll).
    page = client.get(reverse("encounters:detail", args=[session.pk])).content.decode()
    assert "NEED HELP NOW" in _alarms(page)


def test_companion_check_ins_show_with_the_sender_and_time(client, world, session):
    companion = _companion(world)
    companion_checkin_record(
        actor=world.companion, companion_id=companion.pk, state="restless", bp_systolic=150,
        bp_diastolic=92, heart_rate=101, note="Pacing.",
    )  # fmt: skip
    sign_in(client, world.therapist.user)
    body = _live(client, session).content.decode()
    checkins = body.split('data-testid="session-checkins"')[1].split("</section>")[0]
    assert "Restless or uneasy" in checkins and "BP 150/92" in checkins
    assert "Robin Companion" in checkins and "America/Los_Angeles" in checkins


def test_not_responding_check_in_raises_the_alarm_on_the_screen(client, world, session):
    companion_checkin_record(
        actor=world.companion, companion_id=_companion(world).pk, state="unresponsive"
    )
    sign_in(client, world.therapist.user)
    assert "NEED HELP NOW" in _alarms(_live(client, session).content.decode())


def test_the_poll_is_a_fixed_number_of_queries(client, world, session):
    sign_in(client, world.therapist.user)
    companion = _companion(world)

    def raise_both():
        alert_raise(actor=world.companion, client_id=world.client.pk, kind="help_now", answers={})
        companion_checkin_record(actor=world.companion, companion_id=companion.pk, state="settled")

    raise_both()
    _live(client, session)  # warm caches (sessions, content types)
    with CaptureQueriesContext(connection) as one:
        _live(client, session)
    raise_both()
    raise_both()
    with CaptureQueriesContext(connection) as three:
        body = _live(client, session).content.decode()
    # A second "Need help now" while one is open joins it; every check-in is listed.
    assert body.count('data-testid="session-alarm"') >= 1 and body.count("data-state=") == 3
    assert len(three) == len(one)


def test_a_closed_session_shows_no_alarms(client, world, session):
    services.session_abandon(
        actor=world.therapist, session_id=session.pk, version=session.version, reason="Unwell."
    )
    alert_raise(actor=world.companion, client_id=world.client.pk, kind="help_now", answers={})
    sign_in(client, world.therapist.user)
    page = client.get(reverse("encounters:detail", args=[session.pk])).content.decode()
    assert 'data-testid="session-alarms"' not in page
