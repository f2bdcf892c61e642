"""Automatic logoff (HIPAA 164.312(a)(2)(iii)): the idle clock counts only what a person
does, never the screen's own polling; the absolute cap runs from sign-in; the first request
after sign-in is checked like any other.

These drive the Django test client with the header the polling elements send;
tests/e2e/test_idle_logoff.py leaves a polling page open in Chromium (decision 0039).
"""

import datetime
import re
import time

import pytest
from django.test import override_settings
from django.urls import reverse

from kapflow.core.middleware import IDLE_KEY, POLL_HEADER, SIGNED_IN_KEY
from tests.accounts.factories import PASSWORD
from tests.conftest import sign_in
from tests.courses.factories import make_course

POLL = {POLL_HEADER: "1", "HX-Request": "true"}
START = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def banner(world):
    course = make_course(world.client, world.therapist, stage="active")
    return reverse("alerts:course_banner", args=[course.pk])


def _set(client, **values):
    session = client.session
    for key, value in values.items():
        session[key] = value
    session.save()


def _signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/sign-in/")


@override_settings(KAPFLOW_IDLE_TIMEOUT_MINUTES=15)
def test_polling_does_not_keep_an_idle_session_alive(client, world, banner, time_machine):
    time_machine.move_to(START, tick=False)
    sign_in(client, world.therapist.user)
    assert client.get("/clients/").status_code == 200
    for _ in range(15):  # the course page polls every 15 s: 16 minutes of polling
        time_machine.shift(datetime.timedelta(seconds=64))
        response = client.get(banner, headers=POLL)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/sign-in/")
    assert _signed_out(client.get("/clients/"))


@override_settings(KAPFLOW_IDLE_TIMEOUT_MINUTES=15)
def test_a_poll_leaves_the_idle_clock_where_it_was(client, world, banner):
    sign_in(client, world.therapist.user)
    ten_minutes_ago = time.time() - 10 * 60
    _set(client, **{IDLE_KEY: ten_minutes_ago})
    assert client.get(banner, headers=POLL).status_code == 200
    assert client.session[IDLE_KEY] == ten_minutes_ago


@override_settings(KAPFLOW_IDLE_TIMEOUT_MINUTES=15)
def test_what_a_person_does_moves_the_idle_clock(client, world, banner):
    sign_in(client, world.therapist.user)
    _set(client, **{IDLE_KEY: time.time() - 10 * 60})
    assert client.get(banner, headers={"HX-Request": "true"}).status_code == 200
    assert client.session[IDLE_KEY] > time.time() - 60


def test_the_poll_header_on_a_post_still_counts_as_a_person(client, world):
    sign_in(client, world.therapist.user)
    _set(client, **{IDLE_KEY: time.time() - 10 * 60})
    client.post("/security/time-zone/", {"time_zone": "America/Chicago"}, headers=POLL)
    assert client.session[IDLE_KEY] > time.time() - 60


@override_settings(KAPFLOW_IDLE_TIMEOUT_MINUTES=15, SESSION_COOKIE_AGE=12 * 3600)
def test_the_absolute_cap_runs_from_sign_in_however_busy(client, world):
    sign_in(client, world.therapist.user)
    _set(client, **{SIGNED_IN_KEY: time.time() - 12 * 3600 + 30})
    assert client.get("/clients/").status_code == 200
    _set(client, **{SIGNED_IN_KEY: time.time() - 12 * 3600 - 1})
    assert _signed_out(client.get("/clients/"))
    assert _signed_out(client.get("/clients/"))


def test_a_request_does_not_move_the_sign_in_time(client, world):
    sign_in(client, world.therapist.user)
    signed_in_at = client.session[SIGNED_IN_KEY]
    client.get("/clients/")
    assert client.session[SIGNED_IN_KEY] == signed_in_at


@override_settings(KAPFLOW_IDLE_TIMEOUT_MINUTES=15)
def test_the_first_request_after_sign_in_is_checked(client, world, time_machine):
    time_machine.move_to(START, tick=False)
    response = client.post(
        "/sign-in/", {"username": world.client_member.user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    time_machine.shift(datetime.timedelta(minutes=16))
    assert _signed_out(client.get("/"))


def test_a_session_without_the_clock_is_signed_out(client, world):
    sign_in(client, world.therapist.user)
    session = client.session
    del session[IDLE_KEY]
    del session[SIGNED_IN_KEY]
    session.save()
    assert _signed_out(client.get("/clients/"))


def test_every_polling_element_sends_the_poll_header():
    """A template element that refreshes itself must say so, or it keeps sessions alive."""
    from django.conf import settings

    templates = settings.PACKAGE_DIR.rglob("*.html")
    polls = [
        (path.name, tag)
        for path in templates
        for tag in re.findall(r"<[^>]*hx-trigger=\"[^\"]*every[^>]*>", path.read_text())
    ]
    assert polls
    for name, tag in polls:
        assert 'hx-headers=\'{"X-Kapflow-Poll": "1"}\'' in tag, name
