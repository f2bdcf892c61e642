"""Password change (signed in, current password first) and reset by an e-mailed one-time
link, for staff and clients: rate-limited, audited, no PHI in the e-mail, MFA still asked of
staff afterwards (issue 13, decision 0034)."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.cache import cache

from kapflow.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, totp_device
from tests.conftest import sign_in

NEW = "a-brand-new-passphrase-42"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def _ask_reset(client, email, capture):
    with capture(execute=True):
        return client.post("/password-reset/", {"email": email})


def _link_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/password-reset/\S+)", message.body).group(1)


def test_the_sign_in_page_links_forgot_your_password(client, db):
    page = client.get("/sign-in/").content.decode()
    assert 'href="/password-reset/"' in page and "Forgot your password?" in page


def test_change_asks_the_current_password(client, world):
    user = world.therapist.user
    sign_in(client, user)
    assert b"/security/password/" in client.get("/security/").content
    wrong = client.post(
        "/security/password/",
        {"old_password": "not-my-password", "new_password1": NEW, "new_password2": NEW},
    )
    assert wrong.status_code == 200 and "not your current password" in wrong.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    done = client.post(
        "/security/password/",
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert client.get("/clients/").status_code == 200  # still signed in and verified
    assert AuditEvent.objects.filter(action="password.change", actor_id=user.pk).exists()


def test_change_refuses_a_weak_new_password(client, world):
    sign_in(client, world.therapist.user)
    weak = client.post(
        "/security/password/",
        {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
    )
    assert weak.status_code == 200 and "too short" in weak.content.decode()


def test_change_needs_a_sign_in(client, db):
    assert client.get("/security/password/")["Location"].startswith("/sign-in/")


def test_staff_reset_by_link_then_still_passes_mfa(
    client, world, django_capture_on_commit_callbacks
):
    user = world.therapist.user
    device = totp_device(user)
    response = _ask_reset(client, user.email.upper(), django_capture_on_commit_callbacks)
    assert response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    for phi in (user.full_name, world.practice.name, "therapist"):
        assert phi not in message.body and phi not in message.subject
    path = _link_path(message)

    form = client.get(path, follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    set_path = form.redirect_chain[-1][0]
    done = client.post(set_path, {"new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == "/password-reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW)
    # Not signed in by the reset; the link is spent.
    assert client.get("/clients/")["Location"].startswith("/sign-in/")
    assert b"not valid any more" in client.get(path, follow=True).content

    client.post("/sign-in/", {"username": user.email, "password": NEW})
    assert client.get("/clients/")["Location"] == "/mfa/verify/"
    assert device.pk
    actions = set(AuditEvent.objects.filter(target_id=user.pk).values_list("action", flat=True))
    assert {"password.reset_request", "password.reset"} <= actions


def test_a_client_resets_too(client, world, django_capture_on_commit_callbacks):
    user = world.client_member.user
    _ask_reset(client, user.email, django_capture_on_commit_callbacks)
    form = client.get(_link_path(mail.outbox[0]), follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    client.post("/sign-in/", {"username": user.email, "password": NEW})
    user.refresh_from_db()
    assert user.check_password(NEW)
    home = client.get("/")
    assert home.status_code == 200
    assert home.wsgi_request.user.pk == user.pk


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    client, db, django_capture_on_commit_callbacks
):
    response = _ask_reset(client, "nobody@example.test", django_capture_on_commit_callbacks)
    assert response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []
    event = AuditEvent.objects.get(action="password.reset_request")
    assert event.target_id is None and event.subject_hash


def test_the_link_expires(client, world, time_machine, django_capture_on_commit_callbacks):
    time_machine.move_to(dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC), tick=False)
    _ask_reset(client, world.therapist.user.email, django_capture_on_commit_callbacks)
    time_machine.move_to(dt.datetime(2027, 3, 1, 10, 1, tzinfo=dt.UTC), tick=False)
    page = client.get(_link_path(mail.outbox[0]), follow=True)
    assert b"not valid any more" in page.content


def test_requests_are_limited_per_address(
    client, world, settings, django_capture_on_commit_callbacks
):
    settings.KAPFLOW_PASSWORD_RESET_PER_EMAIL = 3
    for _ in range(5):
        response = _ask_reset(
            client, world.therapist.user.email, django_capture_on_commit_callbacks
        )
        assert response.status_code == 302  # the same answer: no hint of the limit
    assert len(mail.outbox) == 3
    assert AuditEvent.objects.filter(action="password.reset_limited").count() == 2


def test_requests_are_limited_per_network(
    client, world, settings, django_capture_on_commit_callbacks
):
    settings.KAPFLOW_PASSWORD_RESET_PER_IP = 2
    _ask_reset(client, world.therapist.user.email, django_capture_on_commit_callbacks)
    _ask_reset(client, world.prescriber.user.email, django_capture_on_commit_callbacks)
    third = _ask_reset(client, world.admin.user.email, django_capture_on_commit_callbacks)
    assert third.status_code == 429 and b"Too many reset requests" in third.content
    assert len(mail.outbox) == 2
