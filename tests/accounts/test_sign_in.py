"""Sign-in, lockout, MFA enrolment and verification, recovery codes, idle logoff."""

import time

import pytest
from django.core import mail
from django.test import override_settings
from django_otp.oath import totp

from kapflow.accounts.models import AuthenticatorDevice, Membership, RecoveryCode
from kapflow.core.middleware import IDLE_KEY
from tests.accounts.factories import PASSWORD, totp_device
from tests.conftest import sign_in


def _password_sign_in(client, email, password=PASSWORD):
    return client.post("/sign-in/", {"username": email, "password": password})


def _code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_email_is_the_username_case_insensitively(client, world):
    response = _password_sign_in(client, world.client_member.user.email.upper())
    assert response.status_code == 302


def test_wrong_password_is_refused_with_a_plain_message(client, world):
    response = _password_sign_in(client, world.therapist.user.email, "wrong-password-123")
    assert response.status_code == 200
    assert "do not match" in response.content.decode()


def test_account_locks_after_repeated_failures(client, world):
    for _ in range(5):
        _password_sign_in(client, world.therapist.user.email, "wrong-password-123")
    response = _password_sign_in(client, world.therapist.user.email)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


def test_staff_without_device_must_enrol_then_gets_recovery_codes(client, world):
    _password_sign_in(client, world.therapist.user.email)
    assert client.get("/clients/")["Location"] == "/mfa/setup/"
    page = client.get("/mfa/setup/")
    assert page.status_code == 200 and b"QR code" in page.content
    device = AuthenticatorDevice.objects.get(user=world.therapist.user, confirmed=False)
    bad = client.post("/mfa/setup/", {"token": "000000" if _code(device) != "000000" else "111111"})
    assert "did not match" in bad.content.decode()
    done = client.post("/mfa/setup/", {"token": _code(device)})
    assert done.status_code == 200
    assert RecoveryCode.objects.filter(device__user=world.therapist.user).count() == 10
    assert client.get("/clients/").status_code == 200


def test_enrolled_staff_must_verify_with_a_code(client, world):
    device = totp_device(world.therapist.user)
    _password_sign_in(client, world.therapist.user.email)
    assert client.get("/clients/")["Location"] == "/mfa/verify/"
    assert "did not match" in client.post("/mfa/verify/", {"token": "12345"}).content.decode()
    throttled = client.post("/mfa/verify/", {"token": _code(device)})
    assert "Too many wrong codes" in throttled.content.decode()
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post("/mfa/verify/", {"token": _code(device)})
    assert response.status_code == 302
    assert client.get("/clients/").status_code == 200


def test_recovery_code_works_once(client, world):
    totp_device(world.therapist.user)
    from kapflow.accounts.services import recovery_codes_generate

    codes = recovery_codes_generate(user=world.therapist.user)
    _password_sign_in(client, world.therapist.user.email)
    assert client.post("/mfa/verify/", {"token": codes[0]}).status_code == 302
    client.post("/sign-out/")
    _password_sign_in(client, world.therapist.user.email)
    again = client.post("/mfa/verify/", {"token": codes[0]})
    assert again.status_code == 200


def test_clients_are_not_forced_into_mfa(client, world):
    _password_sign_in(client, world.client_member.user.email)
    home = client.get("/")
    assert home.status_code == 200
    assert home.wsgi_request.user.pk == world.client_member.user_id
    assert not home.wsgi_request.user.is_verified()


@override_settings(KAPFLOW_DEMO_MODE=True)
def test_demo_mode_lets_unenrolled_staff_through(client, world):
    _password_sign_in(client, world.therapist.user.email)
    page = client.get("/clients/")
    assert page.status_code == 200
    assert page.wsgi_request.actor.pk == world.therapist.pk
    assert f"/clients/{world.client.pk}/" in page.content.decode()


@override_settings(KAPFLOW_IDLE_TIMEOUT_MINUTES=15)
def test_idle_session_is_signed_out(client, world):
    sign_in(client, world.therapist.user)
    assert client.get("/clients/").status_code == 200
    session = client.session
    session[IDLE_KEY] = time.time() - 16 * 60
    session.save()
    response = client.get("/clients/")
    assert response.status_code == 302 and response["Location"].startswith("/sign-in/")
    assert client.get("/clients/").status_code == 302


def test_security_headers_are_set(client, world):
    response = client.get("/sign-in/")
    assert response["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_organisation_switcher_changes_the_acting_organisation(client, world):
    from kapflow.accounts.models import MembershipRole

    second = Membership.objects.create(organisation=world.other, user=world.admin.user)
    MembershipRole.objects.create(membership=second, role="practice_admin")
    sign_in(client, world.admin.user)
    assert client.get(f"/clients/{world.other_client.pk}/").status_code == 404
    client.post("/organisations/switch/", {"organisation": world.other.pk})
    assert client.get(f"/clients/{world.other_client.pk}/").status_code == 200
    assert client.get(f"/clients/{world.client.pk}/").status_code == 404
    bad = client.post("/organisations/switch/", {"organisation": world.partner.pk})
    assert bad.status_code == 200 and b"Choose one of your organisations" in bad.content


@pytest.mark.parametrize("with_account", [False, True])
def test_invitation_flow(client, world, with_account, django_capture_on_commit_callbacks):
    sign_in(client, world.admin.user)
    email = world.other_therapist.user.email if with_account else "new.person@example.test"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/members/", {"email": email, "roles": ["therapist"]})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = next(line for line in body.splitlines() if "/invite/" in line).strip()
    path = link.split("8000", 1)[-1] if "8000" in link else link
    client.post("/sign-out/")
    if with_account:
        assert b"Sign in" in client.get(path).content
        sign_in(client, world.other_therapist.user)
        response = client.post(path)
    else:
        weak = client.post(path, {"full_name": "New Person", "password": "short"})
        assert weak.status_code == 200 and "too short" in weak.content.decode()
        response = client.post(
            path, {"full_name": "New Person", "password": "a-long-enough-passphrase"}
        )
    assert response.status_code == 302
    membership = Membership.objects.get(organisation=world.practice, user__email=email)
    assert membership.has_role("therapist")
    assert client.get(path).status_code == 404  # one use only
    if not with_account:
        assert response["Location"] == "/mfa/setup/"


def test_invalid_invitation_email_names_the_field(client, world):
    sign_in(client, world.admin.user)
    response = client.post("/members/", {"email": "nope", "roles": ["therapist"]})
    assert response.status_code == 200
    assert "Email: Enter a valid email address." in response.content.decode()
    assert len(mail.outbox) == 0


def test_resend_mints_a_new_link_and_kills_the_old(
    client, world, django_capture_on_commit_callbacks
):
    sign_in(client, world.admin.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/members/", {"email": "late@example.test", "roles": ["biller"]})
    from kapflow.accounts.models import Invitation

    invitation = Invitation.objects.get(email="late@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/invitations/{invitation.pk}/resend/").status_code == 302
    old, new = (
        next(line for line in m.body.splitlines() if "/invite/" in line).split("8000", 1)[-1]
        for m in mail.outbox
    )
    assert old != new
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_smtp_failure_keeps_invitation_pending(client, world, django_capture_on_commit_callbacks):
    from unittest import mock

    sign_in(client, world.admin.user)
    with (
        mock.patch("kapflow.accounts.tasks.send_mail", side_effect=ConnectionRefusedError),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post("/members/", {"email": "x@example.test", "roles": ["biller"]})
    assert response.status_code == 302
    from kapflow.accounts.models import Invitation

    assert Invitation.objects.get(email="x@example.test").status == "pending"
