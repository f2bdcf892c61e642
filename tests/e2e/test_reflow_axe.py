"""Every page of every demo sign-in, in Chromium: no page is wider than a 320 px viewport
(WCAG 1.4.10 reflow: 320 CSS px is 1280 px at 400% zoom), and axe-core (from npm) finds no
serious or critical violation at 1366 px and at 390 px. The main menu fits the admin's
screen at 1366 px and the therapist's at 1024 px, and collapses behind a keyboard-operable
toggle at phone width.

The pages are the demo crawl's (tests/demo/test_demo_crawl.py), one per shape (a path with
its ids replaced), so a list of forty courses is checked once, not forty times. One browser
for the module, one page per sign-in. Screenshots of each home go to KAPFLOW_SHOTS
(default /tmp/shots-layout) at 1366, 1024, 390 and 320 px.
"""

import os
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client as DjangoClient

from kapflow.demo.people import DEMO_PASSWORD, SIGN_INS
from tests.demo import test_demo_crawl as demo_crawl

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_source() -> str:
    return AXE.read_text() + "\n;window.axe = axe;"


SHOTS = Path(os.environ.get("KAPFLOW_SHOTS", "/tmp/shots-layout"))
EMAILS = [email for email, *_ in SIGN_INS]
WIDTHS_SHOT = (1366, 1024, 390, 320)
# Pages whose response is not an HTML page of the app (downloads, feeds, htmx fragments).
NOT_PAGES = (".pdf", ".ics", ".csv", ".json", "/export", "/feed", "/download")

# How far the page's content reaches beyond the viewport, in CSS px; 0 when it fits. Data
# tables scroll inside their own region, so their width does not count.
WIDER_THAN_VIEWPORT = "() => document.documentElement.scrollWidth - window.innerWidth"
# How far the last item of the main menu reaches beyond the viewport, when it is shown.
MENU_OVERFLOW = """() => {
  const items = [...document.querySelectorAll('header nav li')]
    .filter(li => li.offsetParent !== null);
  const right = Math.max(0, ...items.map(li => li.getBoundingClientRect().right));
  return Math.max(0, Math.round(right - document.documentElement.clientWidth));
}"""


def _pages(email: str) -> list[str]:
    """The crawl's full pages for this sign-in, one per shape."""
    client = DjangoClient()
    response = client.post("/sign-in/", {"username": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{email} could not sign in"
    fetched = demo_crawl.crawl(client)["fetched"]
    pages, shapes = [], set()
    for url in fetched:
        shape = demo_crawl._shape(url)
        if shape in shapes or any(part in url for part in NOT_PAGES):
            continue
        shapes.add(shape)
        pages.append(url)
    return pages


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in/" not in url)


# A clean tab title: the page's own words, then the site's; no markup or template left in it.
CLEAN_TITLE = re.compile(r"[^<>{}%]+ · kapflow( directory)?")
# Pages printed on paper (layout.css @media print): the course, the dosing session, the note.
PRINTED = re.compile(r"^/(courses|sessions|notes)/\d+/$")
HIDDEN_IN_PRINT = """() => [...document.querySelectorAll(
  '.site-header, body > footer, main button')]
  .filter(el => getComputedStyle(el).display !== 'none').map(el => el.tagName)"""


def _menu_collapses(page, base: str, who: str) -> list[str]:
    """At 390 px the menu hides behind its button; Enter opens it, Escape closes it."""
    problems = []
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/")
    toggle = page.locator("button.menu-toggle")
    menu = page.locator("#main-menu")
    if not toggle.is_visible() or menu.is_visible():
        return [f"{who}: at 390px the menu is not behind its Menu button"]
    toggle.focus()
    page.keyboard.press("Enter")
    if toggle.get_attribute("aria-expanded") != "true" or not menu.is_visible():
        problems.append(f"{who}: Enter on the Menu button does not open the menu")
    page.keyboard.press("Escape")
    if toggle.get_attribute("aria-expanded") != "false" or menu.is_visible():
        problems.append(f"{who}: Escape does not close the menu")
    page.set_viewport_size({"width": 1366, "height": 900})
    if toggle.is_visible() or not menu.is_visible():
        problems.append(f"{who}: at 1366px the menu is not shown in full")
    return problems


def _axe(page) -> list[tuple[str, list]]:
    """Serious and critical axe-core violations. axe is evaluated into the page, not added as
    a script tag, so the page keeps its real Content-Security-Policy (which blocks inline
    styles; bypassing it would lay pages out differently from a real browser)."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = page.evaluate("async () => await axe.run(document)")
    return [
        (v["id"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _walk(browser, base: str, email: str) -> tuple[list[str], dict]:
    """Sign in as `email`, walk its pages; return the problems found and the menu's overflow."""
    pages = _pages(email)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    missing = []
    page.on("response", lambda r: r.status == 404 and missing.append(r.url))
    _sign_in(page, base, email)

    who = email.split("@")[0]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS_SHOT:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/")
        page.screenshot(path=str(SHOTS / f"{who}-home-{width}.png"), full_page=True)

    wide, violations, menu, other = [], [], {}, []
    if any(role in who for role in ("admin", "therapist")):
        other += _menu_collapses(page, base, who)
    for url in pages:
        page.set_viewport_size({"width": 320, "height": 640})
        response = page.goto(f"{base}{url}")
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        if not response.text().lstrip().lower().startswith("<!doctype html"):
            continue  # an htmx fragment the crawl followed (hx-get): checked in its page
        title = page.title()
        if not CLEAN_TITLE.fullmatch(title):
            other.append(f"{who} {url}: the tab title is {title!r}")
        if PRINTED.match(url):
            page.emulate_media(media="print")
            shown = page.evaluate(HIDDEN_IN_PRINT)
            page.emulate_media(media="screen")
            if shown:
                other.append(f"{who} {url}: printed with {sorted(set(shown))}")
        over = page.evaluate(WIDER_THAN_VIEWPORT)
        if over > 0:
            wide.append(f"{who} {url}: {over}px wider than 320px")
        for width, height in ((1366, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            for rule, targets in _axe(page):
                violations.append(f"{who} {url} at {width}px: {rule} {targets}")
        for width in (1366, 1024):
            page.set_viewport_size({"width": width, "height": 900})
            menu[width] = max(menu.get(width, 0), page.evaluate(MENU_OVERFLOW))
    context.close()
    print(
        f"\n{who}: {len(pages)} pages; wider than 320px: {len(wide)}; serious/critical axe "
        f"violations: {len(violations)}; menu overflow at 1366px {menu.get(1366)}px, "
        f"at 1024px {menu.get(1024)}px"
    )
    assert len(pages) > 3, f"{who}: the crawl found only {pages}"
    problems = wide + violations + other
    problems += [f"{who}: a request was not found: {url}" for url in missing]
    for width, over in menu.items():
        if over:
            problems.append(f"{who}: the menu runs {over}px off a {width}px screen")
    return problems, menu


def test_every_page_of_every_demo_sign_in_reflows_and_axe_finds_nothing_serious(
    browser, live_server, settings, monkeypatch
):
    """One test for all sign-ins: the demo is loaded once (a live server needs a
    transactional database, which is emptied after each test)."""
    settings.KAPFLOW_DEMO_MODE = True
    call_command("demo", clients=12, stdout=StringIO())
    monkeypatch.setattr(demo_crawl, "PER_SHAPE", 1)
    problems = []
    for email in EMAILS:
        found, _menu = _walk(browser, live_server.url, email)
        problems += found
    for line in problems:
        print("  " + line)
    assert problems == [], "\n".join(problems)
