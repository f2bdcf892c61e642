"""End to end in Chromium: automatic logoff (HIPAA 164.312(a)(2)(iii), decision 0032) with a
page that polls. The course page refreshes its alert banner every 15 s with X-Kapflow-Poll;
those requests reach the server but do not move the idle clock, so a therapist who leaves
the page open is signed out, while one who keeps clicking stays signed in.

No waiting: the server's clock is time-machine's (the live server runs in this process) and
the browser's is Playwright's, so 15 s of page time and the idle timeout pass at once. The
timeout is one minute here (KAPFLOW_IDLE_TIMEOUT_MINUTES, 15 by default).
"""

import datetime
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from tests.accounts.factories import OrganisationFactory, member
from tests.courses.factories import make_course
from tests.e2e.flows import sign_in
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

START = datetime.datetime(2027, 3, 1, 17, 0, tzinfo=datetime.UTC)
POLL_MS = 15_000  # hx-trigger="every 15s" on the course page's alert banner


@pytest.fixture
def course_page(page, live_server, settings, time_machine):
    """A therapist signed in (with MFA) on a course page that polls; the server's clock
    stands still at START until the test moves it."""
    settings.KAPFLOW_IDLE_TIMEOUT_MINUTES = 1
    time_machine.move_to(START, tick=False)
    practice = OrganisationFactory(name="Juniper Practice", state="OR")
    therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    client = ClientFactory(organisation=practice, legal_first_name="Ines", legal_last_name="Okafor")
    on_team(client, therapist)
    course = make_course(client, therapist, stage="active")
    page.clock.install()
    sign_in(page, live_server.url, therapist)
    page.goto(live_server.url + reverse("courses:detail", args=[course.pk]))
    expect(page.get_by_role("heading", name=re.compile("KAP course"))).to_be_visible()
    page.banner = reverse("alerts:course_banner", args=[course.pk])
    return page


def _poll(page, time_machine, seconds: int):
    """Move the server's clock by `seconds` and the page's by one poll interval: the banner
    polls once. Returns the poll's response."""
    time_machine.shift(datetime.timedelta(seconds=seconds))
    with page.expect_response(lambda r: r.url.endswith(page.banner)) as polled:
        page.clock.run_for(POLL_MS)
    response = polled.value
    assert response.request.headers.get("x-kapflow-poll") == "1"
    return response


def _still_on_the_course(page):
    expect(page.get_by_role("heading", name=re.compile("KAP course"))).to_be_visible()
    expect(page.get_by_test_id("course-alerts")).to_be_attached()


def test_an_idle_therapist_on_a_polling_page_is_signed_out(course_page, time_machine):
    page = course_page
    # 25 s and 50 s after the last thing the therapist did: the polls are answered.
    for _ in range(2):
        response = _poll(page, time_machine, 25)
        assert response.status == 200 and "hx-redirect" not in response.headers
        _still_on_the_course(page)
    # 75 s: only 25 s after the last poll, but polls never moved the idle clock.
    with page.expect_navigation(url=re.compile(r"/sign-in/")):
        response = _poll(page, time_machine, 25)
    assert response.headers["hx-redirect"].startswith("/sign-in/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_text("signed out after a period of inactivity")).to_be_visible()
    # The session has ended on the server too: the course page asks for sign-in.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/sign-in/"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_therapist_who_keeps_clicking_stays_signed_in(course_page, time_machine):
    page = course_page
    for _ in range(3):
        # A poll 25 s after the last click, then a click 25 s after that: to the client's
        # record and back to the course.
        response = _poll(page, time_machine, 25)
        assert response.status == 200 and "hx-redirect" not in response.headers
        time_machine.shift(datetime.timedelta(seconds=25))
        page.get_by_role("link", name="Client record").click()
        expect(page.get_by_role("heading", name="KAP courses")).to_be_visible()
        page.locator("#courses").get_by_role("link", name=re.compile("Course #")).click()
        _still_on_the_course(page)
    # 150 s after sign-in, well past the one-minute timeout: still signed in and polling.
    response = _poll(page, time_machine, 25)
    assert response.status == 200 and "hx-redirect" not in response.headers
    _still_on_the_course(page)
