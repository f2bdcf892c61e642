"""Every link the app shows a demo sign-in leads somewhere: signed in as each of the README's
demo sign-ins (and a low-dose client's own portal account), follow every same-site link and
htmx GET breadth-first from the home page and fail on any 404 or 5xx, naming the page that
showed the link.

GET only; sign-out and the platform admin are skipped. The crawl is bounded: at most
PER_SHAPE pages of one shape (the path and query keys with ids replaced), MAX_PAGES in all.
"""

import re
from collections import deque
from html.parser import HTMLParser
from io import StringIO
from urllib.parse import parse_qsl, urldefrag, urljoin, urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings

from kapflow.demo.people import DEMO_PASSWORD, SIGN_INS

MAX_PAGES = 400
PER_SHAPE = 4
SKIP = ("/sign-out/", "/platform-admin/", "/static/")


class _Links(HTMLParser):
    """The GET targets a page offers: a[href] and hx-get (sent with HX-Request)."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.found.append((attrs["href"], False))
        if attrs.get("hx-get") is not None:
            self.found.append((attrs["hx-get"], True))


def _shape(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/\d+", "/N", parts.path)
    keys = sorted(k for k, _v in parse_qsl(parts.query, keep_blank_values=True))
    return f"{path}?{'&'.join(keys)}"


def crawl(client) -> dict:
    """Breadth-first from "/"; returns the pages fetched, the broken ones (404, 5xx) and the
    forbidden ones (403, reported only) with the page that linked to each."""
    queue = deque([("/", False, "(start)")])
    seen, shapes = {("/", False)}, {}
    fetched, broken, forbidden = [], [], []
    while queue and len(fetched) < MAX_PAGES:
        url, htmx, referrer = queue.popleft()
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.get(url, headers=headers)
        fetched.append(url)
        if response.status_code == 404 or response.status_code >= 500:
            broken.append((response.status_code, url, referrer))
            continue
        if response.status_code == 403:
            forbidden.append((url, referrer))
        if response.status_code in (301, 302, 303, 307, 308):
            targets = [(response["Location"], False)]
        elif "text/html" in response.get("Content-Type", "") and not response.streaming:
            parser = _Links()
            parser.feed(response.content.decode())
            targets = parser.found
        else:
            targets = []
        for href, hx in targets:
            target, _fragment = urldefrag(urljoin(url, href))
            parts = urlsplit(target)
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if not target.startswith("/") or target.startswith(SKIP) or (target, hx) in seen:
                continue
            seen.add((target, hx))
            shape = _shape(target)
            shapes[shape] = shapes.get(shape, 0) + 1
            if shapes[shape] <= PER_SHAPE:
                queue.append((target, hx, url))
    return {"fetched": fetched, "broken": broken, "forbidden": forbidden, "left": len(queue)}


@pytest.fixture(scope="module")
def demo_db(django_db_setup, django_db_blocker):
    """The demo, loaded once for the module (committed; flushed afterwards)."""
    with django_db_blocker.unblock():
        call_command("demo", stdout=StringIO())
        yield
        call_command("flush", interactive=False, verbosity=0)


def _sign_in(client, email):
    response = client.post("/sign-in/", {"username": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{email} could not sign in"


def _low_dose_client_email() -> str:
    from kapflow.patients.models import Client

    client = (
        Client.objects.filter(user__isnull=False)
        .exclude(user__email="client@harborlight.example")
        .order_by("pk")
        .first()
    )
    return client.user.email


@override_settings(KAPFLOW_DEMO_MODE=True)
@pytest.mark.parametrize(
    "email", [email for email, *_ in SIGN_INS] + ["low-dose client"], ids=lambda e: e.split("@")[0]
)
def test_every_link_a_demo_sign_in_sees_works(demo_db, db, client, email):
    if email == "low-dose client":
        email = _low_dose_client_email()
    _sign_in(client, email)
    result = crawl(client)
    print(f"{email}: {len(result['fetched'])} pages, {result['left']} left in the queue")
    for url, referrer in result["forbidden"]:
        print(f"  403 {url} (linked from {referrer})")
    assert "/" in result["fetched"] and len(result["fetched"]) > 3
    assert result["broken"] == [], "\n".join(
        f"{status} {url} (linked from {referrer})" for status, url, referrer in result["broken"]
    )
