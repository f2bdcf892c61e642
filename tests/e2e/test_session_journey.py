"""End to end in Chromium: the therapist turns on their calendar feed and books a dosing
session with its integration session in one step; runs the session on the screen (the start
is refused with every reason, then passes; the dose and three vitals are typed in, one
flagged with its rule; discharge is refused until every criterion holds); signs the dosing
note; the course shows its integration items and the feed shows the next appointment with
no name in it."""

import datetime
import re
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.core.timezones import viewer_zone
from kapflow.courses.models import DueItem
from kapflow.encounters.models import DosingSession, TimelineEntry
from kapflow.notes.models import Note
from kapflow.prescriptions.models import DoseUse
from kapflow.scheduling.models import Appointment, Room
from tests.e2e.flows import sign_in
from tests.encounters.factories import ready_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _live_codes(screen, testid):
    return (
        screen.get_by_test_id(testid)
        .locator("li[data-code]")
        .evaluate_all("els => els.map(e => e.dataset.code)")
    )


def test_a_whole_dosing_session_on_the_screen(page, live_server, world):
    course = ready_course(world.client, world.therapist, world.prescriber)
    Room.objects.create(organisation=world.practice, name="Willow Room")
    base = live_server.url
    sign_in(page, base, world.therapist)

    # The therapist's private calendar feed.
    page.goto(f"{base}/schedule/calendar/")
    page.get_by_role("button", name="Create").click()
    feed_url = page.get_by_label("Calendar link").input_value()
    assert "/schedule/feed/" in feed_url

    # Book the dosing session in a few minutes, and the integration session tomorrow in the
    # same step (times typed in the therapist's own zone).
    zone = ZoneInfo(viewer_zone(world.therapist.user, world.therapist))
    soon = (timezone.now() + datetime.timedelta(minutes=10)).astimezone(zone)
    tomorrow = soon + datetime.timedelta(days=1)
    page.goto(f"{base}/courses/{course.pk}/")
    page.get_by_role("button", name="Book a dosing session").click()
    page.locator("[name=starts_at]").fill(soon.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Room").select_option(label="Willow Room")
    page.get_by_label("Also book the integration session (within 72 hours)").check()
    page.locator("[name=integration_starts_at]").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name=re.compile("^Book")).click()
    if page.get_by_role("button", name="Book anyway").count():
        page.get_by_role("button", name="Book anyway").click()  # warnings shown, confirmed
    expect(page.get_by_test_id("open-session")).to_be_visible()
    dosing = Appointment.objects.get(course=course, kind="dosing")
    integration = Appointment.objects.get(kind="integration", follows=dosing)

    # The appointment is the encounter (decision 0054): one press on it opens the session.
    page.get_by_test_id("open-session").click()
    expect(page.get_by_test_id("start-form")).to_be_visible()

    # Refused: every reason listed, nothing started; the refusal takes focus and is
    # scrolled into view (it sits above the button that was pressed).
    page.get_by_role("button", name="Check the gate and start").click()
    expect(page.get_by_test_id("refused")).to_be_visible()
    expect(page.get_by_test_id("refused")).to_be_focused()
    expect(page.get_by_test_id("refused")).to_be_in_viewport()
    assert sorted(_live_codes(page, "refused")) == [
        "alcohol.not_attested", "driver.unconfirmed", "vitals.bp_missing",
    ]  # fmt: skip

    form = page.get_by_test_id("start-form")
    form.get_by_label("Systolic (mmHg)").fill("122")
    form.get_by_label("Diastolic (mmHg)").fill("78")
    form.get_by_label("No alcohol in the last 24 hours").check()
    form.get_by_label(re.compile("a driver is confirmed")).check()
    form.get_by_role("button", name="Check the gate and start").click()
    expect(page.get_by_test_id("dose-form")).to_be_visible()

    dose = page.get_by_test_id("dose-form")
    dose.get_by_label("Amount").fill("200")
    dose.get_by_label("Amount").press("Enter")  # keyboard: Enter submits
    expect(page.get_by_test_id("timeline")).to_contain_text("uses one dose")
    expect(dose.get_by_label("Amount")).to_have_value("")  # cleared for the next entry
    assert DoseUse.objects.filter(course=course).count() == 1

    vitals = page.get_by_test_id("vitals-form")
    for systolic, diastolic in [("130", "84"), ("184", "96"), ("138", "86")]:
        vitals.get_by_label("Systolic (mmHg)").fill(systolic)
        vitals.get_by_label("Diastolic (mmHg)").fill(diastolic)
        vitals.get_by_role("button", name="Record vitals").click()
        expect(page.get_by_test_id("timeline")).to_contain_text(f"BP {systolic}/{diastolic}")
        if systolic == "184":
            expect(page.get_by_test_id("flagged")).to_contain_text("Rule: systolic >= 180 mmHg")
    expect(page.get_by_test_id("flagged")).to_have_count(0)

    # Discharge refused until every criterion is met.
    discharge = page.get_by_test_id("discharge-form")
    discharge.get_by_role("button", name="Discharge and close").click()
    expect(page.get_by_test_id("refused")).to_be_visible()
    assert sorted(_live_codes(page, "refused")) == [
        "discharge.no_driver", "discharge.not_alert", "discharge.not_walking",
        "discharge.observation_short",
    ]  # fmt: skip

    # Two hours pass (moved in the database: no waiting in tests).
    session = DosingSession.objects.get(course=course)
    shift = datetime.timedelta(minutes=150)
    DosingSession.objects.filter(pk=session.pk).update(started_at=session.started_at - shift)
    for entry in TimelineEntry.objects.filter(session=session):
        if entry.data.get("bp_systolic") != 138:  # the latest reading stays "now"
            TimelineEntry.objects.filter(pk=entry.pk).update(occurred_at=entry.occurred_at - shift)

    discharge.get_by_label("Alert and oriented").check()
    discharge.get_by_label("Able to walk steadily").check()
    discharge.get_by_label(re.compile("Driver here")).check()
    discharge.get_by_role("button", name="Discharge and close").click()
    expect(page.get_by_test_id("discharged")).to_be_visible()
    expect(page.get_by_test_id("billing")).to_contain_text("first hour 60 min")
    codes = set(DueItem.objects.filter(course=course).values_list("code", flat=True))
    assert {"integration.due", "integration.checkin"} <= codes
    assert DosingSession.objects.get(course=course).appointment == dosing
    dosing.refresh_from_db()
    assert dosing.status == "completed"

    # The dosing note: drafted from the session, signed by its author, then locked.
    # One press drafts the note from the session record (decision 0052).
    page.get_by_test_id("write-note").click()
    editor = page.locator("#note-editor")
    for field in editor.locator("textarea").all():
        field.fill("Tolerated the dose; one raised reading settled; discharged with a driver.")
    editor.get_by_label(re.compile("full name", re.I)).fill(world.therapist.user.full_name)
    # Let the editor's autosave (2 s after typing) finish first: the in-memory SQLite test
    # database cannot take two writers at once (PostgreSQL waits on the row lock).
    page.wait_for_timeout(2500)
    expect(page.get_by_test_id("autosave-status")).not_to_contain_text("as you type")
    page.wait_for_load_state("networkidle")
    editor.get_by_test_id("sign").click()
    expect(page.get_by_test_id("note-status")).to_have_text("Signed and final")
    note = Note.objects.get(client=world.client)
    assert note.status == "signed" and note.appointment == dosing

    # The course shows the integration session due within 72 hours and the week's check-in.
    page.goto(f"{base}/courses/{course.pk}/")
    due = page.locator("section", has=page.locator("#due-heading"))
    expect(due).to_contain_text("Integration session")
    expect(due).to_contain_text("Integration check-in")

    # The feed (no session: the URL is the key) shows the next appointment, nameless.
    body = page.request.get(feed_url).text()
    calendar = icalendar.Calendar.from_ical(body)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    [next_uid] = [u for u in events if u.startswith(f"appointment-{integration.pk}@")]
    assert events[next_uid].decoded("DTSTART") == integration.starts_at
    assert str(events[next_uid]["SUMMARY"]) == "kapflow appointment"
    assert world.client.legal_last_name not in body


def test_the_companions_need_help_now_reaches_the_open_session_screen(
    browser, page, live_server, world
):
    """The therapist has the at-home session's screen open; the companion, in their own
    browser, presses "Need help now"; the screen's next poll shows it, named and timed."""
    from tests.accounts.factories import PASSWORD
    from tests.encounters.factories import opened

    course = ready_course(world.client, world.therapist, world.prescriber, delivery="at_home")
    session = opened(world.therapist, course)
    world.companion.user.full_name = "Robin Companion"
    world.companion.user.save()
    base = live_server.url
    sign_in(page, base, world.therapist)
    page.goto(f"{base}/sessions/{session.pk}/")
    expect(page.get_by_test_id("start-form")).to_be_visible()
    expect(page.get_by_test_id("session-alarms")).to_have_count(0)

    context = browser.new_context(viewport={"width": 800, "height": 900})
    companion = context.new_page()
    companion.set_default_timeout(15000)
    companion.goto(f"{base}/sign-in/")
    companion.get_by_label("Email").fill(world.companion.user.email)
    companion.get_by_label("Password").fill(PASSWORD)
    companion.get_by_role("button", name="Sign in").click()
    expect(companion.get_by_role("heading", name="Thank you for being a companion")).to_be_visible()
    companion.goto(f"{base}/alerts/help/{world.client.pk}/")
    companion.get_by_test_id("help-now-button").click()
    expect(companion).to_have_url(re.compile(r"/alerts/"))
    context.close()

    # The screen polls every 10 seconds: the alarm is there by the next poll.
    alarm = page.get_by_test_id("session-alarms")
    expect(alarm).to_contain_text("NEED HELP NOW", timeout=13000)
    expect(alarm).to_contain_text("Robin Companion")
    expect(alarm).to_have_attribute("role", "alert")
    expect(alarm).to_have_attribute("aria-live", "assertive")
