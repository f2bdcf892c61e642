# ruff: noqa: E501  (the matrix reads best one row per line)
"""Messaging pages: every role against every page (companions and billers always 404), the
compose forms with the emergency notice, read receipts, downloads, and pinned query counts."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import strip_tags

from kapflow.messaging import selectors, services
from kapflow.messaging.models import Attachment, Message, MessageReceipt, Thread
from tests.conftest import sign_in
from tests.messaging.factories import PDF, PNG, care_thread, partner_thread, upload
from tests.patients.factories import ClientFactory, on_team

ROLES = [
    "admin",
    "therapist",
    "therapist2",
    "biller",
    "prescriber",
    "client_member",
    "companion",
    "other_admin",
    "other_therapist",
]


def _row(*codes):
    return dict(zip(ROLES, codes, strict=True))


@pytest.fixture
def threads(world):
    care = care_thread(world, attachments=[upload("labs.pdf", PDF)])
    partner = partner_thread(world)
    on_team(world.client, world.therapist2)  # on the team now, but not in the threads
    return {
        "care": care,
        "partner": partner,
        "attachment": Attachment.objects.get(message__thread=care),
    }


# 404: not allowed to use messaging, or not a participant (existence does not leak).
# 403: a participant who may see the thread but not do this (adding people is the practice's).
MATRIX = [
    ("inbox", "get", "/messages/", None, None, _row(200, 200, 200, 404, 200, 200, 404, 200, 200)),
    ("new", "get", "/messages/new/", None, None, _row(200, 200, 200, 404, 200, 200, 404, 200, 200)),
    ("care thread", "get", "/messages/{id}/", None, "care", _row(404, 200, 404, 404, 200, 200, 404, 404, 404)),
    ("partner thread", "get", "/messages/{id}/", None, "partner", _row(404, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("care reply", "post", "/messages/{id}/", {"body": "Hello"}, "care", _row(404, 302, 404, 404, 302, 302, 404, 404, 404)),
    ("partner reply", "post", "/messages/{id}/", {"body": "Hello"}, "partner", _row(404, 302, 404, 404, 302, 404, 404, 404, 404)),
    ("empty reply", "post", "/messages/{id}/", {"body": ""}, "care", _row(404, 422, 404, 404, 422, 422, 404, 404, 404)),
    ("attachment", "get", "/messages/attachments/{id}/", None, "attachment", _row(404, 200, 404, 404, 200, 200, 404, 404, 404)),
    ("add participant", "post", "/messages/{id}/participants/", {"membership_id": "therapist2"}, "care", _row(404, 302, 404, 404, 403, 403, 404, 404, 404)),
    ("missing thread", "get", "/messages/999999/", None, None, _row(404, 404, 404, 404, 404, 404, 404, 404, 404)),
    ("missing attachment", "get", "/messages/attachments/999999/", None, None, _row(404, 404, 404, 404, 404, 404, 404, 404, 404)),
]  # fmt: skip

CASES = [pytest.param(row, role, id=f"{row[0]}-{role}") for row in MATRIX for role in ROLES]


@pytest.mark.parametrize(("row", "role"), CASES)
def test_page_permission_matrix(client, world, threads, row, role):
    name, method, template, body, target, expected = row
    url = template.format(id=threads[target].pk) if target else template
    if body and body.get("membership_id") == "therapist2":
        body = {"membership_id": world.therapist2.pk}
    sign_in(client, getattr(world, role).user)
    response = getattr(client, method)(url, data=body) if body is not None else client.get(url)
    assert response.status_code == expected[role], (name, role, response.content[:300])


def test_signed_out_visitors_go_to_sign_in(client, world, threads):
    for url in ["/messages/", "/messages/new/", f"/messages/{threads['care'].pk}/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert "/messages/" not in response.url.split("?")[0]


# ---- the client's side --------------------------------------------------------------------


def test_client_compose_shows_the_emergency_notice(client, world):
    sign_in(client, world.client_member.user)
    page = client.get("/messages/new/").content.decode()
    assert 'data-testid="emergency-notice"' in page
    assert "911" in page and "988" in page
    assert "not for emergencies" in page
    assert "business hours" in page
    assert 'name="client"' not in page  # the client writes about themself only
    assert 'name="kind"' not in page


def test_client_sends_a_message_to_their_care_team(client, world):
    sign_in(client, world.client_member.user)
    response = client.post(
        "/messages/new/",
        {
            "subject": "Next session",
            "body": "Can we move it?",
            "attachments": [upload("a.pdf", PDF)],
        },
    )
    thread = Thread.objects.get()
    assert response.status_code == 302
    assert re.fullmatch(r"/messages/\d+/", response.url)  # ids only in URLs
    assert thread.client_id == world.client.pk
    assert thread.messages.get().attachments.count() == 1
    page = client.get(response.url).content.decode()
    assert "Message sent." in page
    assert 'data-testid="urgent-notice"' not in page


def test_crisis_words_show_the_urgent_notice_once(client, world):
    sign_in(client, world.client_member.user)
    response = client.post(
        "/messages/new/", {"subject": "Tonight", "body": "I feel like I want to kill myself"}
    )
    assert Message.objects.get().urgent_notice_shown is True
    page = client.get(response.url).content.decode()
    assert 'data-testid="urgent-notice"' in page
    assert 'role="alert"' in page
    assert "call 911" in strip_tags(page) and "call or text 988" in strip_tags(page)
    assert "Message sent." not in page
    # No reply time is promised.
    assert not re.search(r"within \d+|reply (by|in)", page, re.IGNORECASE)
    again = client.get(response.url).content.decode()
    assert 'data-testid="urgent-notice"' not in again


def test_crisis_words_in_a_reply_show_the_notice(client, world):
    thread = care_thread(world)
    sign_in(client, world.client_member.user)
    response = client.post(f"/messages/{thread.pk}/", {"body": "I have chest pain"}, follow=True)
    assert 'data-testid="urgent-notice"' in response.content.decode()


def test_staff_see_that_the_client_was_shown_the_notice(client, world):
    thread = care_thread(world, body="I took an overdose")
    sign_in(client, world.therapist.user)
    page = client.get(f"/messages/{thread.pk}/").content.decode()
    assert 'data-testid="urgent-flag"' in page
    assert 'data-testid="urgent-notice"' not in page


def test_client_without_a_client_record_gets_404_on_compose(client, world):
    world.client.user = None
    world.client.save()
    sign_in(client, world.client_member.user)
    assert client.get("/messages/new/").status_code == 404
    assert client.get("/messages/").status_code == 200


# ---- the staff side -----------------------------------------------------------------------


def test_staff_compose_offers_only_the_clients_they_may_message(client, world):
    sign_in(client, world.therapist.user)
    page = client.get("/messages/new/").content.decode()
    assert world.client.sort_name in page
    assert world.unreferred.sort_name in page
    assert world.other_client.sort_name not in page
    assert 'name="kind"' in page
    assert "911" in page


def test_staff_compose_from_a_clients_page_offers_that_client(client, world):
    sign_in(client, world.therapist.user)
    page = client.get(f"/messages/new/?client={world.client.pk}").content.decode()
    assert f'<option value="{world.client.pk}" selected>' in page
    assert world.unreferred.sort_name not in page
    # An id out of reach is ignored: the usual list, nothing about that client.
    page = client.get(f"/messages/new/?client={world.other_client.pk}").content.decode()
    assert world.other_client.sort_name not in page
    assert world.unreferred.sort_name in page
    assert client.get("/messages/new/?client=99999999999999999999999").status_code == 200


def test_staff_cannot_post_a_client_outside_their_list(client, world):
    sign_in(client, world.therapist.user)
    response = client.post(
        "/messages/new/",
        {"client": world.other_client.pk, "kind": "care", "subject": "Hi", "body": "Hi"},
    )
    assert response.status_code == 422
    assert not Thread.objects.exists()


def test_staff_start_a_partner_thread(client, world):
    sign_in(client, world.therapist.user)
    response = client.post(
        "/messages/new/",
        {"client": world.client.pk, "kind": "partner", "subject": "Dosing", "body": "Plan"},
    )
    assert response.status_code == 302
    thread = Thread.objects.get()
    assert thread.kind == "partner"
    assert set(thread.participants.values_list("user_id", flat=True)) == {
        world.therapist.user_id,
        world.prescriber.user_id,
    }


def test_service_refusals_show_beside_the_form(client, world):
    sign_in(client, world.therapist.user)
    response = client.post(
        "/messages/new/",
        {"client": world.unreferred.pk, "kind": "partner", "subject": "Hi", "body": "Hi"},
    )
    assert response.status_code == 422
    assert "No partner prescriber" in response.content.decode()


def test_admin_partner_thread_is_not_offered_and_refused(client, world):
    sign_in(client, world.admin.user)
    page = client.get("/messages/new/").content.decode()
    assert 'name="kind"' not in page
    assert world.unreferred.sort_name in page  # every client of the practice


# ---- a thread -----------------------------------------------------------------------------


def test_opening_a_thread_marks_it_read_and_shows_receipts(client, world):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    assert client.get(f"/messages/{thread.pk}/").status_code == 200
    assert MessageReceipt.objects.filter(user=world.therapist.user).count() == 1
    inbox = client.get("/messages/").content.decode()
    assert 'data-testid="unread"' not in inbox

    client.logout()
    sign_in(client, world.client_member.user)
    page = client.get(f"/messages/{thread.pk}/").content.decode()
    assert f"Read by {world.therapist.user}" in page


def test_inbox_shows_unread_counts(client, world):
    thread = care_thread(world)
    services.message_send(actor=world.client_member, thread_id=thread.pk, body="Two")
    sign_in(client, world.therapist.user)
    page = client.get("/messages/").content.decode()
    assert "2 unread" in page
    assert world.client.display_name in page


def test_reply_with_a_spoofed_file_shows_the_error(client, world, media_root):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    response = client.post(
        f"/messages/{thread.pk}/", {"body": "See file", "attachments": [upload("x.pdf", PNG)]}
    )
    assert response.status_code == 422
    assert "Attachment 1" in response.content.decode()
    assert thread.messages.count() == 1


def test_reply_with_three_files(client, world):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    files = [upload(f"f{i}.pdf", PDF) for i in range(3)]
    response = client.post(f"/messages/{thread.pk}/", {"body": "", "attachments": files})
    assert response.status_code == 302
    assert Message.objects.latest("pk").attachments.count() == 3


def test_attachment_is_downloaded_never_rendered(client, world, threads):
    sign_in(client, world.prescriber.user)
    attachment = threads["attachment"]
    response = client.get(f"/messages/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="labs.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "no-store"


def test_attachment_whose_file_is_gone_is_404(client, world, threads, media_root):
    attachment = threads["attachment"]
    (media_root / attachment.file.name).unlink()
    sign_in(client, world.therapist.user)
    assert client.get(f"/messages/attachments/{attachment.pk}/").status_code == 404


def test_practice_adds_a_new_team_member_from_the_thread_page(client, world, threads):
    sign_in(client, world.therapist.user)
    page = client.get(f"/messages/{threads['care'].pk}/").content.decode()
    assert "Add someone from the care team" in page
    response = client.post(
        f"/messages/{threads['care'].pk}/participants/", {"membership_id": world.therapist2.pk}
    )
    assert response.status_code == 302
    client.logout()
    sign_in(client, world.therapist2.user)
    assert client.get(f"/messages/{threads['care'].pk}/").status_code == 200


# ---- queries ------------------------------------------------------------------------------


def _make_threads(world, n):
    for i in range(n):
        thread = care_thread(world, subject=f"Thread {i}")
        services.message_send(actor=world.therapist, thread_id=thread.pk, body="Reply")


@pytest.mark.parametrize("n", [2, 20])
def test_inbox_selector_is_four_queries(world, django_assert_num_queries, n):
    _make_threads(world, n)
    # count, rows with unread counts and clients, participants with users, the audit chain's
    # head (lock and read), audit insert
    with django_assert_num_queries(5):
        page = selectors.thread_list(actor=world.client_member)
        rows = [(t.unread, t.client.display_name, [str(p.user) for p in t.participants.all()])
                for t in page.object_list]  # fmt: skip
    assert len(rows) == n


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


@pytest.mark.parametrize("role", ["client_member", "therapist", "prescriber"])
def test_inbox_page_queries_do_not_grow_from_2_to_20_threads(client, world, role):
    sign_in(client, getattr(world, role).user)
    _make_threads(world, 2)
    client.get("/")  # session warm-up
    small = _count(client, "/messages/")
    _make_threads(world, 18)
    assert _count(client, "/messages/") == small


def test_inbox_page_query_count_is_pinned(client, world, django_assert_num_queries):
    sign_in(client, world.therapist.user)
    _make_threads(world, 2)
    client.get("/")
    pinned = _count(client, "/messages/")
    _make_threads(world, 18)
    with django_assert_num_queries(pinned):
        client.get("/messages/")


def test_thread_page_queries_do_not_grow_with_messages(client, world):
    thread = care_thread(world, attachments=[upload("a.pdf", PDF)])
    sign_in(client, world.therapist.user)
    client.get("/")
    first = _count(client, f"/messages/{thread.pk}/")  # one unread message
    for i in range(15):
        services.message_send(
            actor=world.client_member, thread_id=thread.pk, body=f"Message {i}",
            attachments=[upload("b.txt", b"note")],
        )  # fmt: skip
        services.thread_mark_read(actor=world.prescriber, thread_id=thread.pk)
    assert _count(client, f"/messages/{thread.pk}/") == first  # fifteen unread, with receipts


def test_a_large_practice_does_not_slow_the_staff_compose_page(client, world):
    sign_in(client, world.admin.user)
    client.get("/")
    small = _count(client, "/messages/new/")
    ClientFactory.create_batch(20, organisation=world.practice)
    assert _count(client, "/messages/new/") == small


def test_an_oversized_upload_on_the_page_is_refused(client, world, media_root):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    big = upload("big.pdf", PDF + b"0" * (5 * 1024 * 1024 + 10))
    response = client.post(f"/messages/{thread.pk}/", {"body": "x", "attachments": [big]})
    assert response.status_code == 422
    assert "larger than 5 MB" in response.content.decode()
    assert thread.messages.count() == 1
    assert not Attachment.objects.exists()


def test_compose_forms_still_check_csrf(world):
    from django.test import Client

    thread = care_thread(world)
    browser = sign_in(Client(enforce_csrf_checks=True), world.therapist.user)
    url = f"/messages/{thread.pk}/"
    assert browser.post(url, {"body": "Hello"}).status_code == 403
    assert browser.post("/messages/new/", {"body": "Hello"}).status_code == 403
    assert thread.messages.count() == 1
    browser.get(url)
    token = browser.cookies["csrftoken"].value
    sent = browser.post(url, {"body": "Hello", "csrfmiddlewaretoken": token})
    assert sent.status_code == 302
    assert thread.messages.count() == 2


def test_another_client_of_the_practice_reaches_none_of_it(client, world, threads):
    from kapflow.accounts.models import Role
    from tests.accounts.factories import member

    other = member(world.practice, Role.CLIENT)
    other_client = ClientFactory(organisation=world.practice, user=other.user)
    on_team(other_client, world.therapist)
    theirs = services.thread_start(
        actor=other, kind="care", subject="Their own question", body="Hello"
    )
    sign_in(client, other.user)
    inbox = client.get("/messages/").content.decode()
    assert "Their own question" in inbox
    assert threads["care"].subject not in inbox
    assert world.client.legal_last_name not in inbox
    for url in [
        f"/messages/{threads['care'].pk}/",
        f"/messages/{threads['partner'].pk}/",
        f"/messages/attachments/{threads['attachment'].pk}/",
        f"/api/v1/messages/{threads['care'].pk}",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/messages/{threads['care'].pk}/", {"body": "Hi"}).status_code == 404
    listed = client.get("/api/v1/messages").json()
    assert [t["id"] for t in listed["results"]] == [theirs.pk]
