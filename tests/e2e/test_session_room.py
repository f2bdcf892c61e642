"""End to end in Chromium with fake camera and microphone: the therapist, the client and the
companion open the session room of an at-home dosing appointment; the therapist admits the
two from the waiting room; each page plays the other two's video; an outsider gets "not
found"; the companion's "need help now" appears in the therapist's room.

The room needs WebSockets, which pytest-django's live server does not speak: the shipped ASGI
application runs under uvicorn in a thread of this process, on the same test database."""

import asyncio
import threading

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.patients.models import Companion
from tests.e2e.conftest import ARGS, CHROMIUM
from tests.telehealth.factories import start_session, telehealth_appointment

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MEDIA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
PLAYING = """() => {
  const v = [...document.querySelectorAll('[data-testid=remote-video]')];
  return v.filter(x => x.videoWidth > 0 && x.videoHeight > 0 && !x.paused
                       && x.getBoundingClientRect().width > 0).length >= 2;
}"""


@pytest.fixture
def asgi_base(transactional_db, settings):
    import socket

    import uvicorn
    from channels.db import database_sync_to_async
    from django.db import connections

    from kapflow.config.asgi import application

    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    # Each request's thread closes its connection when the request ends, so PostgreSQL can
    # drop the test database afterwards (the tests' default keeps them for 60 s).
    db_settings = connections.settings["default"]
    kept_age = db_settings.get("CONN_MAX_AGE", 0)
    db_settings["CONN_MAX_AGE"] = 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off",
                       log_level="warning", ws="websockets")
    )  # fmt: skip
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    # The consumers' database thread too.
    asyncio.run_coroutine_threadsafe(database_sync_to_async(connections.close_all)(), loop).result(
        timeout=30
    )
    server.should_exit = True
    thread.join(timeout=10)
    db_settings["CONN_MAX_AGE"] = kept_age


@pytest.fixture
def media_browser():
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + MEDIA)
        yield browser
        browser.close()
        # While Playwright is open in this thread, the test's own ORM calls run on a second
        # connection (a backend pid other than the one pytest-django opened): close it here,
        # or PostgreSQL cannot drop the test database ("being accessed by other users").
        connections.close_all()


def test_three_people_see_each_other(world, asgi_base, media_browser):
    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    appointment = telehealth_appointment(world)
    start_session(world, appointment)
    url = f"{asgi_base}/telehealth/{appointment.pk}/"
    staff = {"therapist": True, "client_member": False, "companion": False, "therapist2": True}
    pages = {
        name: _page_as(media_browser, asgi_base, getattr(world, name).user, staff=is_staff)
        for name, is_staff in staff.items()
    }
    host = pages["therapist"]
    host.goto(url)
    expect(host.get_by_test_id("room-status")).to_have_text("In the room.")
    for name in ("client_member", "companion"):
        pages[name].goto(url)
        expect(pages[name].get_by_test_id("room-status")).to_contain_text("waiting room")
    host.get_by_test_id("admit-client").click()
    host.get_by_test_id("admit-companion").click()
    for name in ("therapist", "client_member", "companion"):
        pages[name].wait_for_function(PLAYING, timeout=60000)
    expect(host.get_by_test_id("present-companion")).to_contain_text("connected")

    # An outsider learns nothing.
    response = pages["therapist2"].goto(url)
    assert response.status == 404

    # The companion presses "need help now" (in another tab, the room stays open): it
    # arrives in the therapist's room at once.
    tab = pages["companion"].context.new_page()
    tab.goto(f"{asgi_base}/alerts/help/{world.client.pk}/")
    tab.get_by_test_id("help-now-button").click()
    expect(host.get_by_test_id("room-alert")).to_contain_text("Need help now")
    for page in pages.values():
        page.context.close()


def _session(user, *, staff: bool) -> tuple[str, str]:
    """A signed-in session (staff: having passed MFA) without driving the sign-in pages: the
    same sessions the pages use, for a socket outside the browser or a page's cookie."""
    from django.conf import settings
    from django.test import Client

    from tests.conftest import sign_in as verified_sign_in

    client = Client()
    if staff:
        verified_sign_in(client, user)
    else:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value


def _session_cookie(user) -> str:
    return "=".join(_session(user, staff=False))


def _page_as(browser, base: str, user, *, staff: bool):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    name, value = _session(user, staff=staff)
    context.add_cookies([{"name": name, "value": value, "url": base}])
    page = context.new_page()
    page.set_default_timeout(30000)
    return page


def _seat_playing(seat: int) -> str:
    return f"""() => {{
      const v = document.querySelector('[data-testid=remote-video][data-seat="{seat}"]');
      return v && v.videoWidth > 0 && v.videoHeight > 0 && !v.paused
             ? [v.videoWidth, v.videoHeight] : null;
    }}"""


def test_an_independent_webrtc_peer_and_the_browser_agree(world, asgi_base, media_browser):
    """aiortc, as the companion, joins through the same signalling; the therapist's Chromium
    plays its synthetic video and aiortc receives a frame of Chromium's fake camera."""
    from tests.telehealth.aiortc_peer import AiortcPeer

    Companion.objects.filter(user=world.companion.user).update(confirmed_at=timezone.now())
    appointment = telehealth_appointment(world)
    start_session(world, appointment)
    host = _page_as(media_browser, asgi_base, world.therapist.user, staff=True)
    host.goto(f"{asgi_base}/telehealth/{appointment.pk}/")
    expect(host.get_by_test_id("room-status")).to_have_text("In the room.")

    ws_url = asgi_base.replace("http://", "ws://") + f"/ws/telehealth/{appointment.pk}/"
    peer = AiortcPeer(ws_url, _session_cookie(world.companion.user), asgi_base).start()
    try:
        assert peer.result.joined.wait(60), "aiortc never got an answer from the room"
        assert not peer.result.error, peer.result.error
        assert peer.result.status == "waiting"
        host.get_by_test_id("admit-companion").click()
        size = host.wait_for_function(_seat_playing(peer.result.seat), timeout=60000).json_value()
        # aiortc's synthetic track is 640 x 480; Chromium decoded it at that size.
        assert size == [640, 480]
        expect(host.get_by_test_id("present-companion")).to_contain_text("connected")
        # The link's state is on the person's tile.
        tile = host.locator(f"#tile-{peer.result.seat}")
        expect(tile).to_have_attribute("data-state", "connected")
        expect(tile.locator("figcaption")).to_have_text("Companion (connected)")
        for _ in range(600):
            if peer.result.frame_size or peer.result.error:
                break
            host.wait_for_timeout(100)
        assert not peer.result.error, peer.result.error
        width, height = peer.result.frame_size
        assert width > 0 and height > 0
        assert "video" in peer.result.remote_kinds
        assert peer.result.offered_to  # it offered to the therapist, as room.js would
    finally:
        peer.stop()
        host.context.close()
    # Its visit is on the record like anyone's.
    from kapflow.telehealth.models import SeatVisit

    visit = SeatVisit.objects.get(seat_id=peer.result.seat)
    assert visit.joined_at is not None


# In the therapist's page: press "Admit" and time until the admitted person's video has its
# first frame (videoWidth > 0 once a frame is decoded).
ADMIT_TO_FRAME = """async () => {
  const t0 = performance.now();
  document.querySelector('[data-testid=admit-client]').click();
  return await new Promise((resolve) => {
    const poll = () => {
      const v = document.querySelector('[data-testid=remote-video]');
      if (v && v.videoWidth > 0) resolve(performance.now() - t0);
      else setTimeout(poll, 5);
    };
    poll();
  });
}"""


def test_admit_to_first_remote_frame(world, asgi_base, media_browser):
    """The time from the therapist's "Admit" to the first frame of the client's video in the
    therapist's page, over KAPFLOW_ROOM_ROUNDS rooms (1 here; bench/telehealth_first_frame.py
    runs 5 and reports the median)."""
    import os
    import statistics

    from kapflow.audit.models import AuditEvent

    rounds = int(os.environ.get("KAPFLOW_ROOM_ROUNDS", "1"))
    first = telehealth_appointment(world, kind="integration")
    appointments = [first] + [
        telehealth_appointment(world, kind="integration", course=first.course_obj)
        for _ in range(rounds - 1)
    ]
    host = _page_as(media_browser, asgi_base, world.therapist.user, staff=True)
    guest = _page_as(media_browser, asgi_base, world.client_member.user, staff=False)
    times = []
    for appointment in appointments:
        url = f"{asgi_base}/telehealth/{appointment.pk}/"
        host.goto(url)
        expect(host.get_by_test_id("room-status")).to_have_text("In the room.")
        guest.goto(url)
        expect(guest.get_by_test_id("room-status")).to_contain_text("waiting room")
        expect(host.get_by_test_id("admit-client")).to_be_visible()
        times.append(host.evaluate(ADMIT_TO_FRAME))
        guest.wait_for_function(PLAYING.replace(">= 2", ">= 1"))
    assert all(0 < t < 30_000 for t in times), times
    print(
        f"\nadmit to first remote video frame, {len(times)} rooms: median "
        f"{statistics.median(times):.0f} ms (min {min(times):.0f}, max {max(times):.0f})"
    )
    # Each admission is on the audit trail.
    assert AuditEvent.objects.filter(action="telehealth.admit").count() == rounds
    for page in (host, guest):
        page.context.close()
