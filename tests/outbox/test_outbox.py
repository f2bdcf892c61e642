"""The local outbox (decision 0039): the backend keeps mail in the database and prints
nothing; the /outbox/ page exists in demo mode only and shows each person their own mail, and
invitation mail to those who may act on the invitation; old mail is purged."""

import datetime
import os
import re
import subprocess
import sys

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts.models import Invitation, Membership
from kapflow.core import clock
from kapflow.outbox.apps import check_email_backend
from kapflow.outbox.models import OutboxMessage
from kapflow.outbox.services import outbox_purge
from tests.conftest import sign_in

OUTBOX = "kapflow.outbox.backend.OutboxBackend"
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def outbox(settings):
    """The outbox backend (pytest runs otherwise use locmem) and demo mode."""
    settings.EMAIL_BACKEND = OUTBOX
    settings.KAPFLOW_DEMO_MODE = True
    settings.KAPFLOW_BASE_URL = BASE
    return settings


def _send(to, subject="Hello", body="Nothing here.", **kwargs):
    return mail.EmailMessage(subject, body, None, to, **kwargs).send()


def _invite(client, admin, email, django_capture_on_commit_callbacks):
    sign_in(client, admin.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/members/", {"email": email, "roles": ["therapist"]})
    assert response.status_code == 302
    return Invitation.objects.get(email=email)


def _subjects(response) -> list[str]:
    return re.findall(r"<strong>([^<]*)</strong>", response.content.decode().split("<h1>")[1])


# ---- the backend ---------------------------------------------------------------------------


def test_a_message_is_kept_once_per_recipient_and_nothing_is_printed(outbox, db, capfd):
    sent = _send(
        ["Wren <Wren@Example.test>", "ash@example.test"],
        cc=["ash@example.test"],
        bcc=["oak@example.test"],
        subject="Your appointment",
        body="See you soon.",
    )
    assert sent == 1
    rows = OutboxMessage.objects.order_by("recipient")
    assert [r.recipient for r in rows] == [
        "ash@example.test",
        "oak@example.test",
        "wren@example.test",
    ]
    assert {r.subject for r in rows} == {"Your appointment"}
    assert {r.to for r in rows} == {"Wren <Wren@Example.test>, ash@example.test"}
    assert all(r.body == "See you soon." and r.invitation_id is None for r in rows)
    out, err = capfd.readouterr()
    assert out == ""
    assert "example.test" not in err and "See you soon" not in err


def test_an_invitation_mail_records_its_invitation(
    outbox, client, world, django_capture_on_commit_callbacks
):
    invitation = _invite(
        client, world.admin, "new.person@example.test", django_capture_on_commit_callbacks
    )
    message = OutboxMessage.objects.get(recipient="new.person@example.test")
    assert message.invitation_id == invitation.pk
    assert f"{BASE}/invite/" in message.body


def test_tests_keep_djangos_locmem_outbox(db):
    _send(["someone@example.test"])
    assert len(mail.outbox) == 1
    assert not OutboxMessage.objects.exists()


# ---- who sees what -------------------------------------------------------------------------


def test_there_is_no_outbox_outside_demo_mode(outbox, client, world):
    outbox.KAPFLOW_DEMO_MODE = False
    sign_in(client, world.therapist.user)
    assert client.get("/outbox/").status_code == 404
    assert b'href="/outbox/"' not in client.get("/").content


def test_the_outbox_asks_for_sign_in(outbox, client, db):
    response = client.get("/outbox/")
    assert response.status_code == 302 and response["Location"].startswith("/sign-in/")


def test_each_person_reads_the_mail_addressed_to_them(outbox, client, world):
    _send([world.therapist.user.email.upper()], subject="For the therapist")
    _send([world.admin.user.email], subject="For the admin")
    _send([world.other_therapist.user.email], subject="For another practice")
    sign_in(client, world.therapist.user)
    response = client.get("/outbox/")
    assert response.status_code == 200
    assert _subjects(response) == ["For the therapist"]
    assert b'href="/outbox/"' in client.get("/").content  # in the navigation


def test_an_admin_reads_their_organisations_invitations_not_password_resets(
    outbox, client, world, django_capture_on_commit_callbacks
):
    _invite(client, world.admin, "new.person@example.test", django_capture_on_commit_callbacks)
    _invite(client, world.other_admin, "elsewhere@example.test", django_capture_on_commit_callbacks)
    client.post("/sign-out/")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/password-reset/", {"email": world.therapist.user.email})
    assert OutboxMessage.objects.filter(recipient=world.therapist.user.email).exists()

    sign_in(client, world.admin.user)
    subjects = _subjects(client.get("/outbox/"))
    assert subjects == ["You are invited to Practice A on kapflow"]
    sign_in(client, world.therapist.user)
    assert _subjects(client.get("/outbox/")) == ["Reset your kapflow password"]


def test_a_therapist_reads_the_portal_invitations_they_sent(
    outbox, client, world, django_capture_on_commit_callbacks
):
    from tests.patients.factories import ClientFactory, on_team

    record = ClientFactory(organisation=world.practice, email="wren@example.test")
    on_team(record, world.therapist)
    on_team(record, world.therapist2)
    sign_in(client, world.therapist.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/clients/{record.pk}/portal-invite/")
    assert response.status_code == 302, response.content
    assert Invitation.objects.filter(client=record).exists()
    assert len(_subjects(client.get("/outbox/"))) == 1
    sign_in(client, world.therapist2.user)
    assert _subjects(client.get("/outbox/")) == []


def test_an_invitation_link_in_the_outbox_can_be_followed(
    outbox, client, world, django_capture_on_commit_callbacks
):
    _invite(client, world.admin, "new.person@example.test", django_capture_on_commit_callbacks)
    page = client.get("/outbox/").content.decode()
    link = re.search(r'<a href="(http://127\.0\.0\.1:8000/invite/[^"]+)"', page).group(1)
    client.post("/sign-out/")
    response = client.post(
        link.removeprefix(BASE),
        {"full_name": "New Person", "password": "a-long-enough-passphrase"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user__email="new.person@example.test").exists()


def test_only_links_into_kapflow_are_clickable(outbox, client, world):
    _send(
        [world.therapist.user.email],
        body=(
            f"Open {BASE}/q/abc123/.\nNot https://evil.example/phish nor "
            f"http://127.0.0.1:8000.evil.example/x\n<script>alert(1)</script>"
        ),
    )
    sign_in(client, world.therapist.user)
    page = client.get("/outbox/").content.decode()
    assert f'<a href="{BASE}/q/abc123/" rel="noreferrer">{BASE}/q/abc123/</a>.' in page
    assert 'href="https://evil.example' not in page and "evil.example/phish" in page
    assert 'href="http://127.0.0.1:8000.evil' not in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_newest_first_twenty_to_a_page(outbox, client, world, time_machine):
    start = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
    for n in range(25):
        time_machine.move_to(start + datetime.timedelta(minutes=n), tick=False)
        _send([world.therapist.user.email], subject=f"Message {n}")
    sign_in(client, world.therapist.user)
    first = _subjects(client.get("/outbox/"))
    assert first == [f"Message {n}" for n in range(24, 4, -1)]
    assert _subjects(client.get("/outbox/?page=2")) == [f"Message {n}" for n in range(4, -1, -1)]
    assert _subjects(client.get("/outbox/?page=99")) == _subjects(client.get("/outbox/?page=2"))


def test_the_page_costs_the_same_queries_for_one_message_or_thirty(outbox, client, world):
    sign_in(client, world.admin.user)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/outbox/").status_code == 200
        return len(queries)

    _send([world.admin.user.email])
    one = count()
    for _ in range(29):
        _send([world.admin.user.email])
    assert count() == one


# ---- purging -------------------------------------------------------------------------------


def test_messages_older_than_the_limit_are_purged(outbox, world, time_machine):
    start = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
    time_machine.move_to(start, tick=False)
    _send(["old@example.test"])
    time_machine.move_to(start + datetime.timedelta(days=6), tick=False)
    _send(["newer@example.test"])
    assert outbox_purge(now=start + datetime.timedelta(days=7), days=7) == 0
    assert outbox_purge(now=start + datetime.timedelta(days=7, seconds=1), days=7) == 1
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == ["newer@example.test"]


def test_storing_a_message_purges_old_ones(outbox, world, time_machine):
    start = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
    time_machine.move_to(start, tick=False)
    _send(["old@example.test"])
    time_machine.move_to(start + datetime.timedelta(days=8), tick=False)
    _send(["new@example.test"])
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == ["new@example.test"]


def test_the_purge_command(outbox, world, time_machine, capsys):
    start = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
    time_machine.move_to(start, tick=False)
    _send(["a@example.test", "b@example.test"])
    time_machine.move_to(start + datetime.timedelta(days=2), tick=False)
    call_command("outbox_purge")
    assert OutboxMessage.objects.count() == 2
    call_command("outbox_purge", "--days", "1")
    assert OutboxMessage.objects.count() == 0
    assert "Deleted 2 outbox message(s)" in capsys.readouterr().out
    assert clock.now() == start + datetime.timedelta(days=2)


# ---- configuration -------------------------------------------------------------------------


def _production(settings):
    settings.DEBUG = False
    settings.KAPFLOW_DEMO_MODE = False
    settings.TESTING = False


def test_the_console_backend_is_refused_in_production(settings):
    _production(settings)
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert [m.id for m in check_email_backend()] == ["outbox.E001"]
    settings.EMAIL_BACKEND = OUTBOX
    assert [m.id for m in check_email_backend()] == ["outbox.W001"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert check_email_backend() == []
    settings.KAPFLOW_DEMO_MODE = True
    settings.EMAIL_BACKEND = OUTBOX
    assert check_email_backend() == []


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({"KAPFLOW_DEMO_MODE": "1"}, OUTBOX),
        ({"KAPFLOW_DEBUG": "1"}, OUTBOX),
        (
            {"SECRET_KEY": "x" * 50, "KAPFLOW_FIELD_KEYS": "A" * 43 + "="},
            "django.core.mail.backends.smtp.EmailBackend",
        ),
    ],
)
def test_the_default_backend(env, backend):
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    environ = {k: v for k, v in os.environ.items() if k in keep}
    environ.update(env, DJANGO_SETTINGS_MODULE="kapflow.config.settings")
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.EMAIL_BACKEND)"],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == backend
