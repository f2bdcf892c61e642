"""End to end in Chromium: the therapist opens the week, clicks a free half hour, books a
therapy session for a client from the one drop-down, and finds it placed on the grid at
that time; the grid scrolls on its own at phone width. Screenshots at 1366 and 390 px go
to /tmp/shots-cal/ (or KAPFLOW_SHOTS_CAL), and the page heights are printed."""

import os
import re
from datetime import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kapflow.scheduling.models import Appointment, AvailabilityRule, Room
from tests.accounts.factories import PASSWORD, totp_device

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("KAPFLOW_SHOTS_CAL", "/tmp/shots-cal"))


def _sign_in(page, base, membership):
    """flows.sign_in, submitting the authenticator code from its own field (the page may
    hold more than one "Verify" form)."""
    from django_otp.oath import totp

    device = totp_device(membership.user)
    page.goto(f"{base}/sign-in/")
    main = page.locator("main")
    main.get_by_label("Email").fill(membership.user.email)
    main.get_by_label("Password").fill(PASSWORD)
    main.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/mfa/" in url)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    field = main.get_by_label(re.compile("Code from your authenticator"))
    field.fill(f"{code:06d}")
    field.press("Enter")  # submits the code's own form
    page.wait_for_url(lambda url: "/sign-in/" not in url and "/mfa/" not in url)


def _height(page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


def test_therapist_books_from_a_free_slot_and_sees_it_placed(page, live_server, world):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for weekday in range(5):
        AvailabilityRule.objects.create(
            organisation=world.practice, membership=world.therapist, weekday=weekday,
            start_time=time(9), end_time=time(17), time_zone="America/Los_Angeles",
        )  # fmt: skip
    Room.objects.create(organisation=world.practice, name="Cedar")
    base = live_server.url
    page.set_viewport_size({"width": 1366, "height": 900})
    _sign_in(page, base, world.therapist)

    page.goto(f"{base}/schedule/")
    page.get_by_test_id("next").click()  # next week: every working half hour is ahead
    free = page.get_by_test_id("free")
    expect(free.first).to_be_visible()
    assert free.count() == 5 * 16
    print(f"\nweek view height at 1366 px, empty week: {_height(page)} px")
    page.screenshot(path=str(SHOTS / "week-1366-empty.png"), full_page=True)

    target = free.nth(3)  # Monday 10:30
    label = target.inner_text()
    assert re.match(r"Book 10:30", label), label
    target.click()
    expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
    expect(page.locator("[name=starts_at]")).to_have_value(re.compile(r"T10:30$"))
    assert page.locator("select[name=clients]").get_attribute("multiple") is None
    page.locator("select[name=kind]").select_option("therapy")
    page.locator("select[name=clients]").select_option(str(world.client.pk))
    expect(page.locator("select[name=room] option:checked")).to_have_text("Cedar")
    page.get_by_role("button", name=re.compile("^Book")).click()

    appt = Appointment.objects.get()
    expect(page.get_by_test_id("status")).to_contain_text("Scheduled")
    page.get_by_role("link", name="Back to the calendar").click()
    placed = page.get_by_test_id(f"appt-{appt.pk}")
    expect(placed).to_be_visible()
    expect(placed).to_contain_text("10:30")
    expect(placed).to_contain_text("Therapy session")
    expect(placed).to_contain_text("Scheduled")
    # Placed where the free half hour was, and the two half hours it takes are no longer free.
    assert free.count() == 5 * 16 - 2
    print(f"week view height at 1366 px, one booking: {_height(page)} px")
    page.screenshot(path=str(SHOTS / "week-1366.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
          .filter(e => !(e.parentElement && e.parentElement.closest('.cal-scroll'))
                       && (e.getBoundingClientRect().right > 391 || e.scrollWidth > 391))
          .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' +
                          Math.round(e.getBoundingClientRect().right) + '/' + e.scrollWidth)"""
    )
    assert width <= 390, f"the page scrolls sideways at 390 px ({width} px): {wide}"
    region = page.get_by_role("region", name="Week calendar")
    region.focus()
    expect(region).to_be_focused()
    before = region.evaluate("el => el.scrollLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    # Chromium scrolls smoothly: the keys start the scroll, the frames after it move it.
    page.wait_for_function(
        "before => document.querySelector('[data-testid=week]').scrollLeft > before",
        arg=before,
        timeout=5000,
    )
    print(f"week view height at 390 px: {_height(page)} px")
    page.screenshot(path=str(SHOTS / "week-390.png"), full_page=True)
    page.get_by_test_id("view-day").click()
    expect(page.get_by_role("region", name="Day calendar")).to_be_visible()
    page.screenshot(path=str(SHOTS / "day-390.png"), full_page=True)
