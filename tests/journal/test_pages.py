"""Journal pages: the client's list with its badges and the sharing explanation, writing
(with the dosing sessions most recent first), editing, deleting after confirmation, the
staff course page and the partial the course page includes; who gets 404."""

import pytest
from django.template.loader import render_to_string

from kapflow.accounts.models import Role
from kapflow.core.timezones import client_zone, zone
from kapflow.journal.models import JournalEntry
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.journal.factories import course_with_dosings, entry
from tests.patients.factories import ClientFactory


@pytest.fixture
def course(world):
    return course_with_dosings(world.client, world.therapist, prescriber=world.prescriber)


@pytest.fixture
def entries(world, course):
    latest = course.events.filter(kind="dosing").order_by("-occurred_at").first()
    private = entry(world.client, course=course, body="Private words only for me.")
    shared = entry(
        world.client, dosing_event=latest, shared=True, body="Shared words for the therapist."
    )
    return private, shared


@pytest.fixture
def as_client(client, world):
    return sign_in(client, world.client_member.user)


def test_the_journal_lists_entries_with_badges_and_explains_sharing(as_client, entries):
    page = as_client.get("/journal/").content.decode()
    assert page.index("Shared words") < page.index("Private words")  # newest first
    assert "Shared with your therapist" in page and "Private" in page
    assert 'data-testid="sharing-explained"' in page
    assert "partner medical practice cannot" in page
    assert "911" in page and "988" in page


def test_the_new_entry_form_offers_the_dosing_sessions_most_recent_first(as_client, course):
    page = as_client.get("/journal/new/").content.decode()
    # The page shows each session's day in the client's zone, not the UTC day.
    tz = zone(client_zone(course.client))
    dates = [
        e.occurred_at.astimezone(tz).strftime("%Y-%m-%d")
        for e in course.events.filter(kind="dosing").order_by("-occurred_at")
    ]
    assert len(dates) == 2
    assert page.index(dates[0]) < page.index(dates[1])
    assert "Share this entry with my therapist" in page


def test_the_client_writes_a_shared_entry(as_client, world, course):
    dosing = course.events.filter(kind="dosing").order_by("-occurred_at").first()
    response = as_client.post(
        "/journal/new/",
        {"kind": "intention", "dosing_event": dosing.pk, "body": "To be kind.", "shared": "on"},
    )
    assert response.status_code == 302
    made = JournalEntry.objects.get()
    assert (made.kind, made.dosing_event, made.shared) == ("intention", dosing, True)
    follow = as_client.get(response.url).content.decode()
    assert "Saved and shared with your therapist." in follow


def test_form_errors_appear_beside_the_fields(as_client, course):
    response = as_client.post("/journal/new/", {"kind": "intention", "body": "  "})
    assert response.status_code == 422
    assert 'id="id_body_error"' in response.content.decode()
    assert as_client.post("/journal/new/", {}).status_code == 422
    assert not JournalEntry.objects.exists()


def test_a_foreign_dosing_session_is_an_error_beside_the_field(as_client, world, course):
    other = course_with_dosings(ClientFactory(organisation=world.practice), world.therapist)
    theirs = other.events.filter(kind="dosing").first()
    response = as_client.post(
        "/journal/new/", {"kind": "intention", "dosing_event": theirs.pk, "body": "Hello."}
    )
    assert response.status_code == 422
    assert not JournalEntry.objects.exists()


def test_the_client_edits_and_unshares_an_entry(as_client, entries):
    _, shared = entries
    page = as_client.get(f"/journal/{shared.pk}/edit/").content.decode()
    assert "Shared words for the therapist." in page
    response = as_client.post(
        f"/journal/{shared.pk}/edit/",
        {"kind": shared.kind, "dosing_event": shared.dosing_event_id, "body": "Now private."},
    )
    assert response.status_code == 302
    shared.refresh_from_db()
    assert (shared.body, shared.shared, shared.shared_at) == ("Now private.", False, None)


def test_deleting_asks_first(as_client, entries):
    private, _ = entries
    confirm = as_client.get(f"/journal/{private.pk}/delete/")
    assert confirm.status_code == 200
    assert "cannot be brought back" in confirm.content.decode()
    assert JournalEntry.objects.filter(pk=private.pk).exists()
    assert as_client.post(f"/journal/{private.pk}/delete/").status_code == 302
    assert not JournalEntry.objects.filter(pk=private.pk).exists()


def test_a_client_never_reaches_another_clients_entries(client, world, course):
    other_member = member(world.practice, Role.CLIENT)
    other = ClientFactory(organisation=world.practice, user=other_member.user)
    theirs = entry(other, body="Someone else's words.", shared=True)
    sign_in(client, world.client_member.user)
    assert "Someone else" not in client.get("/journal/").content.decode()
    assert client.get(f"/journal/{theirs.pk}/edit/").status_code == 404
    assert client.get(f"/journal/{theirs.pk}/delete/").status_code == 404
    assert client.post(f"/journal/{theirs.pk}/delete/").status_code == 404
    assert JournalEntry.objects.filter(pk=theirs.pk).exists()


def test_the_staff_page_shows_only_shared_entries(client, world, course, entries):
    sign_in(client, world.therapist.user)
    page = client.get(f"/journal/courses/{course.pk}/").content.decode()
    assert "Shared words for the therapist." in page
    assert "Private words" not in page


def test_the_partial_shows_kind_session_date_written_date_and_text(world, course, entries):
    _, shared = entries
    html = render_to_string("journal/_course_entries.html", {"journal_entries": [shared]})
    assert "Integration (after a dosing session)" in html
    assert shared.dosing_event.occurred_at.strftime("%Y-%m-%d") in html
    assert shared.created_at.strftime("%Y-%m-%d") in html
    assert "Shared words for the therapist." in html
    empty = render_to_string("journal/_course_entries.html", {"journal_entries": []})
    assert "has not shared any journal entries" in empty


ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip

# 200 (or 302 after a POST) for the roles named; 404 for everyone else.
PAGES = [
    ("get", "/journal/", "client_member"),
    ("get", "/journal/new/", "client_member"),
    ("get", "/journal/{e}/edit/", "client_member"),
    ("get", "/journal/{e}/delete/", "client_member"),
    ("get", "/journal/courses/{c}/", "admin therapist"),
]


@pytest.mark.parametrize(
    ("method", "url", "allowed", "role"),
    [(m, u, a, r) for m, u, a in PAGES for r in ROLES],
)
def test_journal_page_permissions(client, world, course, entries, method, url, allowed, role):
    _, shared = entries
    sign_in(client, getattr(world, role).user)
    response = getattr(client, method)(url.format(e=shared.pk, c=course.pk))
    assert response.status_code == (200 if role in allowed.split() else 404), (url, role)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_client_can_post_to_the_journal(client, world, course, entries, role):
    _, shared = entries
    sign_in(client, getattr(world, role).user)
    allowed = role == "client_member"
    body = {"kind": "reflection", "body": "Posted."}
    assert client.post("/journal/new/", body).status_code == (302 if allowed else 404)
    assert client.post(f"/journal/{shared.pk}/edit/", body).status_code == (302 if allowed else 404)
    assert client.post(f"/journal/{shared.pk}/delete/").status_code == (302 if allowed else 404)
