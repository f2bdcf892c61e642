"""Each demo sign-in's home dashboard in Chromium, at desktop (1366 px) and phone (390 px)
width: a screenshot of each into KAPFLOW_HOME_SHOTS (default var/screenshots/home/, ignored
by git), no sideways scrolling at 390 px, the header's notification count loaded, and the
therapist's session in progress first with its flagged reading."""

import os
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client as DjangoClient

from kapflow.demo.people import DEMO_PASSWORD, SIGN_INS

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("KAPFLOW_HOME_SHOTS", ROOT / "var" / "screenshots" / "home"))
WIDTHS = (1366, 390)
WIDER_THAN_VIEWPORT = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def demo_db(django_db_setup, django_db_blocker):
    """The demo, loaded once for the module (committed, so the live server sees it)."""
    with django_db_blocker.unblock():
        call_command("demo", stdout=StringIO())
        yield
        call_command("flush", interactive=False, verbosity=0)


def _sign_in(context, base: str, email: str) -> None:
    """Sign in through the sign-in form with Django's test client and hand the session
    cookie to the browser (the browser's own form sign-in is the journeys' business)."""
    client = DjangoClient()
    response = client.post("/sign-in/", {"username": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{email} could not sign in"
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])


# One test for every sign-in: a test using live_server is transactional, and pytest-django
# empties the database after each one, so the demo would be gone for the second.
def test_home_dashboard_screens(demo_db, db, browser, live_server, settings):
    settings.KAPFLOW_DEMO_MODE = True
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    for email, *_ in SIGN_INS:
        _screens(browser, base, email)


def _screens(browser, base: str, email: str) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30000)
    _sign_in(context, base, email)
    who = email.split("@")[0]
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/")
        # The count arrives after the page (htmx): wait for the swapped link.
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=bell]')?.hasAttribute('hx-get')"
        )
        page.screenshot(path=str(SHOTS / f"{who}-{width}.png"), full_page=True)
        assert page.evaluate(WIDER_THAN_VIEWPORT) <= 0, f"{who} home scrolls sideways at {width}"
    if who == "therapist":
        first = page.locator("[data-testid=today-item]").first
        assert first.get_attribute("data-status") == "in_session"
        assert "184/102" in first.inner_text()
        assert page.locator("[data-testid=bell-count]").inner_text().strip().isdigit()
    if who == "prescriber":
        assert page.locator("[data-testid=dash-queue]").is_visible()
    if who == "admin":
        assert page.locator("[data-testid=glance-session]").count() >= 1
    if who == "client":
        assert page.locator("[data-testid=client-next]").is_visible()
    if who == "companion":
        assert page.locator("[data-testid=companion-next]").is_visible()
    context.close()
