# ruff: noqa: E501  (the matrix reads best one row per line)
"""The messaging API: the happy path, 404 for everyone outside a thread (companions and
billers on every endpoint), validation, pinned query counts, and no 5xx for any JSON body."""

import json

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.messaging import services
from kapflow.messaging.models import Message, MessageReceipt, Thread
from tests.conftest import sign_in
from tests.messaging.factories import PDF, care_thread, partner_thread, upload

URL = "/api/v1/messages"

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


def _call(client, method, url, body=None):
    if method == "get":
        return client.get(url)
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def threads(world):
    return {"care": care_thread(world), "partner": partner_thread(world)}


MATRIX = [
    ("list", "get", "", None, None, _row(200, 200, 200, 404, 200, 200, 404, 200, 200)),
    ("care thread", "get", "/{id}", None, "care", _row(404, 200, 404, 404, 200, 200, 404, 404, 404)),
    ("partner thread", "get", "/{id}", None, "partner", _row(404, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("reply", "post", "/{id}/messages", {"body": "Hello"}, "care", _row(404, 201, 404, 404, 201, 201, 404, 404, 404)),
    ("partner reply", "post", "/{id}/messages", {"body": "Hello"}, "partner", _row(404, 201, 404, 404, 201, 404, 404, 404, 404)),
    ("read", "post", "/{id}/read", None, "care", _row(404, 200, 404, 404, 200, 200, 404, 404, 404)),
    ("start about the client", "post", "", {"client_id": "client", "kind": "care", "subject": "Hi", "body": "Hi"}, None, _row(201, 201, 404, 404, 201, 201, 404, 404, 404)),
    ("start partner", "post", "", {"client_id": "client", "kind": "partner", "subject": "Hi", "body": "Hi"}, None, _row(403, 201, 404, 404, 201, 403, 404, 404, 404)),
    ("start other org", "post", "", {"client_id": "other_client", "kind": "care", "subject": "Hi", "body": "Hi"}, None, _row(404, 404, 404, 404, 404, 404, 404, 422, 422)),
    ("missing thread", "get", "/999999", None, None, _row(404, 404, 404, 404, 404, 404, 404, 404, 404)),
    ("huge id", "get", "/99999999999999999999", None, None, _row(404, 404, 404, 404, 404, 404, 404, 404, 404)),
]  # fmt: skip

CASES = [pytest.param(row, role, id=f"{row[0]}-{role}") for row in MATRIX for role in ROLES]


@pytest.mark.parametrize(("row", "role"), CASES)
def test_api_permission_matrix(client, world, threads, row, role):
    name, method, template, body, target, expected = row
    url = URL + (template.format(id=threads[target].pk) if target else template)
    if body and isinstance(body.get("client_id"), str):
        body = {**body, "client_id": getattr(world, body["client_id"]).pk}
    sign_in(client, getattr(world, role).user)
    response = _call(client, method, url, body)
    assert response.status_code == expected[role], (name, role, response.content[:300])
    if response.status_code >= 400:
        assert "errors" in response.json()


def test_signed_out_gets_401(client, threads):
    assert client.get(URL).status_code == 401


def test_happy_path(client, world, django_capture_on_commit_callbacks):
    sign_in(client, world.client_member.user)
    with django_capture_on_commit_callbacks(execute=True):
        started = _call(
            client, "post", URL, {"subject": "Sleep", "body": "Sleeping badly since Tuesday"}
        )
    assert started.status_code == 201, started.content
    thread = started.json()
    assert thread["kind"] == "care"
    assert thread["client_id"] == world.client.pk
    assert thread["client_name"] is None  # the client is writing about themself
    assert [m["body"] for m in thread["messages"]] == ["Sleeping badly since Tuesday"]
    assert {p["user_id"] for p in thread["participants"]} == {
        world.client_member.user_id, world.therapist.user_id, world.prescriber.user_id,
    }  # fmt: skip
    assert len(mail.outbox) == 2

    client.logout()
    sign_in(client, world.therapist.user)
    listed = client.get(URL).json()
    assert (listed["count"], listed["page"], listed["pages"]) == (1, 1, 1)
    row = listed["results"][0]
    assert (row["id"], row["unread"], row["subject"]) == (thread["id"], 1, "Sleep")
    assert row["client_name"] == world.client.display_name

    # Reading over the API does not mark read; the read endpoint does, with receipts.
    detail = client.get(f"{URL}/{thread['id']}").json()
    assert detail["messages"][0]["read_by"] == []
    assert client.get(URL).json()["results"][0]["unread"] == 1
    read = _call(client, "post", f"{URL}/{thread['id']}/read")
    assert read.status_code == 200
    assert read.json()["thread_id"] == thread["id"]
    assert client.get(URL).json()["results"][0]["unread"] == 0
    assert MessageReceipt.objects.filter(user=world.therapist.user).count() == 1

    reply = _call(client, "post", f"{URL}/{thread['id']}/messages", {"body": "Let's talk Monday."})
    assert reply.status_code == 201
    body = reply.json()
    assert (body["mine"], body["body"], body["urgent_notice_shown"]) == (
        True,
        "Let's talk Monday.",
        False,
    )

    client.logout()
    sign_in(client, world.client_member.user)
    detail = client.get(f"{URL}/{thread['id']}").json()
    first = detail["messages"][0]
    assert [r["user_id"] for r in first["read_by"]] == [world.therapist.user_id]
    assert detail["messages"][1]["author_name"] == str(world.therapist.user)


def test_crisis_words_return_the_notice(client, world):
    thread = care_thread(world)
    sign_in(client, world.client_member.user)
    response = _call(client, "post", f"{URL}/{thread.pk}/messages", {"body": "I can't breathe"})
    assert response.status_code == 201
    body = response.json()
    assert body["urgent_notice_shown"] is True
    assert "988" in body["urgent_notice"] and "911" in body["urgent_notice"]


def test_attachments_are_listed_with_their_download_address(client, world):
    thread = care_thread(world, attachments=[upload("labs.pdf", PDF)])
    sign_in(client, world.therapist.user)
    attachment = client.get(f"{URL}/{thread.pk}").json()["messages"][0]["attachments"][0]
    assert (attachment["name"], attachment["content_type"], attachment["size"]) == (
        "labs.pdf", "application/pdf", len(PDF),
    )  # fmt: skip
    assert client.get(attachment["url"]).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"body": ""}, {"body": "x" * 10_001}, {"body": 5}, {"body": "nul \x00"}]
)
def test_invalid_replies_are_422_and_save_nothing(client, world, body):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    response = _call(client, "post", f"{URL}/{thread.pk}/messages", body)
    assert response.status_code == 422, response.content
    assert response.json()["errors"]
    assert Message.objects.count() == 1


def test_a_refusal_by_the_service_names_the_body_field(client, world):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    response = _call(client, "post", f"{URL}/{thread.pk}/messages", {"body": "nul \x00"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


def test_staff_must_name_the_client(client, world):
    sign_in(client, world.therapist.user)
    response = _call(client, "post", URL, {"kind": "care", "subject": "Hi", "body": "Hi"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "client_id"


def test_error_messages_carry_no_phi(client, world):
    sign_in(client, world.therapist.user)
    response = _call(
        client, "post", URL,
        {"client_id": world.unreferred.pk, "kind": "partner", "subject": "Hi", "body": "Hi"},
    )  # fmt: skip
    assert response.status_code == 422
    text = response.content.decode()
    for value in [world.unreferred.legal_first_name, world.unreferred.legal_last_name]:
        assert value not in text


# ---- queries ------------------------------------------------------------------------------


def _make_threads(world, n):
    for i in range(n):
        thread = care_thread(world, subject=f"Thread {i}")
        services.message_send(actor=world.therapist, thread_id=thread.pk, body="Reply")


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


@pytest.mark.parametrize("role", ["client_member", "therapist", "prescriber"])
def test_list_queries_are_the_same_for_2_and_20_threads(
    client, world, role, django_assert_num_queries
):
    sign_in(client, getattr(world, role).user)
    _make_threads(world, 2)
    client.get(URL)
    pinned = _count(client, URL)
    _make_threads(world, 18)
    with django_assert_num_queries(pinned):
        assert len(client.get(URL).json()["results"]) == 20


def test_thread_queries_do_not_grow_with_messages(client, world):
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    client.get(URL)
    first = _count(client, f"{URL}/{thread.pk}")
    for i in range(15):
        services.message_send(actor=world.client_member, thread_id=thread.pk, body=f"M{i}",
                              attachments=[upload("n.txt", b"note")])  # fmt: skip
        services.thread_mark_read(actor=world.prescriber, thread_id=thread.pk)
    assert _count(client, f"{URL}/{thread.pk}") == first


# ---- no input gives a 5xx -----------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
body_fields = st.sampled_from(["body", "subject", "kind", "client_id", "page", "x"]) | st.text(
    max_size=10
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(body_fields, json_values, max_size=6))
def test_no_body_gives_a_server_error(client, world, body):
    thread = Thread.objects.filter(client=world.client, kind="care").first() or care_thread(world)
    sign_in(client, world.client_member.user)
    for url in [URL, f"{URL}/{thread.pk}/messages", f"{URL}/{thread.pk}/read"]:
        response = _call(client, "post", url, body)
        assert response.status_code < 500, (url, body, response.content[:300])
        if response.status_code >= 400:
            assert "errors" in response.json()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_no_raw_payload_gives_a_server_error(client, world, raw):
    thread = Thread.objects.filter(client=world.client, kind="care").first() or care_thread(world)
    sign_in(client, world.therapist.user)
    for url in [URL, f"{URL}/{thread.pk}/messages"]:
        response = client.post(url, data=raw, content_type="application/json")
        assert response.status_code < 500, (url, raw, response.content[:300])


@pytest.mark.parametrize(
    "raw",
    ['{"subject": "\\ud800", "body": "Hi"}', '{"subject": "Hi", "body": "a\\udfffb"}'],
)
def test_lone_surrogates_are_refused_not_a_server_error(client, world, raw):
    sign_in(client, world.client_member.user)
    response = client.post(URL, data=raw, content_type="application/json")
    assert response.status_code == 422, response.content
    assert not Thread.objects.exists()
