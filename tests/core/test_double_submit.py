"""One-time form tokens (decision 0038): a page form sent twice is done once.

Django's test client posts without the token unless a test adds it, which is why the rest of
the suite is unaffected: a POST without a token is let through unprotected."""

import re

import pytest
from django.template import Context, Template

from kapflow.core import form_tokens, idempotency
from kapflow.core.form_tokens import FIELD, RESPONSE_HEADER
from kapflow.core.models import IdempotencyKind, IdempotencyRecord
from kapflow.messaging.models import Message
from kapflow.patients.models import Client
from tests.conftest import sign_in
from tests.messaging.factories import care_thread

NEW_CLIENT = {
    "legal_first_name": "Juniper",
    "legal_last_name": "Okafor",
    "date_of_birth": "1990-04-02",
    "state": "OR",
}
TOKEN_INPUT = re.compile(rf'<input type="hidden" name="{FIELD}" value="([A-Za-z0-9_-]+)">')


@pytest.fixture(autouse=True)
def never_wait(monkeypatch):
    """A repeat waits for a first copy still running; here nothing runs alongside."""
    monkeypatch.setattr(form_tokens, "WAIT_SECONDS", 0.0)


def _token_from(client, url) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return TOKEN_INPUT.search(page.content.decode()).group(1)


def _staff(client, world):
    sign_in(client, world.admin.user)
    return client


def test_every_post_form_carries_a_fresh_token(client, world):
    _staff(client, world)
    page = client.get("/clients/new/").content.decode()
    tokens = TOKEN_INPUT.findall(page)
    # The new-client form and the sign-out button in the header: one token each.
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)
    assert TOKEN_INPUT.findall(client.get("/clients/new/").content.decode())[0] != tokens[0]


def test_the_same_token_twice_makes_one_client(client, world):
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    before = Client.objects.count()
    first = client.post("/clients/new/", {**NEW_CLIENT, FIELD: token})
    assert first.status_code == 302
    again = client.post("/clients/new/", {**NEW_CLIENT, FIELD: token})
    assert again.status_code == 303
    assert again["Location"] == first["Location"]
    assert Client.objects.count() == before + 1
    followed = client.get(again["Location"])
    assert "This form was already sent" in followed.content.decode()


def test_twenty_identical_posts_make_one_client(client, world):
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    before = Client.objects.count()
    codes = [
        client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}).status_code for _ in range(20)
    ]
    assert codes == [302] + [303] * 19
    assert Client.objects.count() == before + 1


def test_a_post_without_a_token_is_let_through(client, world):
    """As designed: scripts, tests and forms rendered without a request send none."""
    _staff(client, world)
    before = Client.objects.count()
    assert client.post("/clients/new/", NEW_CLIENT).status_code == 302
    assert client.post("/clients/new/", NEW_CLIENT).status_code == 302
    assert Client.objects.count() == before + 2
    assert not IdempotencyRecord.objects.exists()


def test_a_malformed_token_is_refused(client, world):
    _staff(client, world)
    before = Client.objects.count()
    response = client.post("/clients/new/", {**NEW_CLIENT, FIELD: "short"})
    assert response.status_code == 400
    assert "could not be checked" in response.content.decode()
    assert Client.objects.count() == before


def test_a_form_shown_again_with_errors_gives_its_token_back(client, world):
    """Nothing was done, so the corrected form may be sent with the same token."""
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    shown_again = client.post("/clients/new/", {**NEW_CLIENT, "legal_last_name": "", FIELD: token})
    assert shown_again.status_code == 200
    assert not IdempotencyRecord.objects.exists()
    assert client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}).status_code == 302
    assert Client.objects.filter(legal_last_name="Okafor").count() == 1


def test_a_refused_form_gives_its_token_back(client, world):
    """A 4xx (here a 404 for a care team the person may not change) spends nothing."""
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    missing = f"/clients/{world.other_client.pk}/care-team/add/"
    assert client.post(missing, {FIELD: token}).status_code == 404
    assert not IdempotencyRecord.objects.exists()


def test_a_reply_sent_twice_is_one_message(client, world):
    """Messaging reads its multipart body inside the view (upload limits): the check runs
    there too."""
    thread = care_thread(world)
    sign_in(client, world.therapist.user)
    token = _token_from(client, f"/messages/{thread.pk}/")
    before = Message.objects.filter(thread=thread).count()
    first = client.post(f"/messages/{thread.pk}/", {"body": "See you Tuesday.", FIELD: token})
    assert first.status_code == 302
    again = client.post(f"/messages/{thread.pk}/", {"body": "See you Tuesday.", FIELD: token})
    assert again.status_code == 303
    assert Message.objects.filter(thread=thread).count() == before + 1


def test_a_repeat_while_the_first_is_running_says_so(client, world):
    """A double click: the first copy's claim is there, unfinished; the browser shows the
    second copy's answer, which must not run the view."""
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    idempotency.claim(
        kind=IdempotencyKind.FORM,
        principal=f"user:{world.admin.user_id}",
        key=token,
        fingerprint=form_tokens.FINGERPRINT,
    )
    before = Client.objects.count()
    response = client.post("/clients/new/", {**NEW_CLIENT, FIELD: token})
    assert response.status_code == 409
    page = response.content.decode()
    assert "This form was already sent" in page and "still being processed" in page
    assert Client.objects.count() == before


def test_a_repeat_waits_for_the_first_and_follows_it(client, world, monkeypatch):
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    found = idempotency.claim(
        kind=IdempotencyKind.FORM,
        principal=f"user:{world.admin.user_id}",
        key=token,
        fingerprint=form_tokens.FINGERPRINT,
    )
    monkeypatch.setattr(form_tokens, "WAIT_SECONDS", 5.0)
    # The first copy finishes while the second waits (instead of sleeping).
    monkeypatch.setattr(
        form_tokens,
        "sleep",
        lambda seconds: idempotency.complete(found.record, status=302, location="/clients/7/"),
    )
    response = client.post("/clients/new/", {**NEW_CLIENT, FIELD: token})
    assert (response.status_code, response["Location"]) == (303, "/clients/7/")


def test_a_repeat_runs_when_the_first_failed_while_it_waited(client, world, monkeypatch):
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    found = idempotency.claim(
        kind=IdempotencyKind.FORM,
        principal=f"user:{world.admin.user_id}",
        key=token,
        fingerprint=form_tokens.FINGERPRINT,
    )
    monkeypatch.setattr(form_tokens, "WAIT_SECONDS", 5.0)
    monkeypatch.setattr(form_tokens, "sleep", lambda seconds: idempotency.release(found.record))
    before = Client.objects.count()
    assert client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}).status_code == 302
    assert Client.objects.count() == before + 1


def test_htmx_repeats_change_nothing_and_each_answer_brings_a_fresh_token(client, world):
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    before = Client.objects.count()
    first = client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}, HTTP_HX_REQUEST="true")
    assert first.status_code == 302
    fresh = first[RESPONSE_HEADER]
    assert form_tokens.TOKEN_PATTERN.fullmatch(fresh) and fresh != token
    again = client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}, HTTP_HX_REQUEST="true")
    assert again.status_code == 204
    assert again[RESPONSE_HEADER] != fresh
    assert Client.objects.count() == before + 1
    # The fresh token sends the form again, as a new submission.
    assert (
        client.post(
            "/clients/new/", {**NEW_CLIENT, FIELD: fresh}, HTTP_HX_REQUEST="true"
        ).status_code
        == 302
    )
    assert Client.objects.count() == before + 2


def test_an_htmx_answer_that_is_not_an_error_spends_the_token(client, world):
    """htmx answers a successful post with a partial (200): that is done, not shown again."""
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    response = client.post(
        "/clients/new/", {**NEW_CLIENT, "state": "", FIELD: token}, HTTP_HX_REQUEST="true"
    )
    # The client form shows its errors with 200: to htmx that is an answer, and it is kept.
    assert response.status_code == 200
    assert IdempotencyRecord.objects.get().status == 200


def test_searches_and_autosaves_are_exempt(client, world):
    """The client search posts the form (token included) on every keystroke."""
    _staff(client, world)
    page = client.get("/clients/").content.decode()
    token = TOKEN_INPUT.search(page).group(1)
    for _ in range(3):
        response = client.post("/clients/", {"q": "Ok", FIELD: token}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert RESPONSE_HEADER not in response
    assert not IdempotencyRecord.objects.exists()


def test_one_persons_token_does_not_block_another(client, world):
    _staff(client, world)
    token = _token_from(client, "/clients/new/")
    assert client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}).status_code == 302
    client.logout()
    sign_in(client, world.therapist.user)
    assert client.post("/clients/new/", {**NEW_CLIENT, FIELD: token}).status_code == 302
    assert Client.objects.filter(legal_last_name="Okafor").count() == 2


def test_signed_out_forms_are_not_claimed(client, world):
    page = client.get("/sign-in/").content.decode()
    token = TOKEN_INPUT.search(page).group(1)
    client.post("/sign-in/", {"username": "nobody@example.org", "password": "x", FIELD: token})
    assert not IdempotencyRecord.objects.exists()


def test_a_template_rendered_without_a_request_gets_no_token():
    html = Template("<form method='post'>{% csrf_token %}</form>").render(Context({}))
    assert FIELD not in html
