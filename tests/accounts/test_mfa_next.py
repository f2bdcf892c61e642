"""After a valid MFA code, `next` is followed only when it stays on this site."""

import pytest
from django_otp.oath import totp

from tests.accounts.factories import PASSWORD, totp_device


def _code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _verify(client, world, next_url, **extra):
    device = totp_device(world.therapist.user)
    client.post("/sign-in/", {"username": world.therapist.user.email, "password": PASSWORD})
    return client.post(
        "/mfa/verify/?" + next_url if next_url else "/mfa/verify/",
        {"token": _code(device)},
        **extra,
    )


@pytest.mark.parametrize(
    "query",
    [
        "next=https://evil.example/phish",
        "next=//evil.example/phish",
        "next=/\\evil.example/phish",
        "next=https:evil.example",
        "next=javascript:alert(1)",
        "next=http://testserver.evil.example/",
    ],
)
def test_mfa_verify_refuses_to_send_anyone_off_site(client, world, query):
    response = _verify(client, world, query)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_mfa_verify_follows_a_path_on_this_site(client, world):
    response = _verify(client, world, "next=/clients/?state=active")
    assert response["Location"] == "/clients/?state=active"


def test_mfa_verify_follows_this_host_by_full_address(client, world):
    response = _verify(client, world, "next=http://testserver/clients/")
    assert response["Location"] == "http://testserver/clients/"


def test_mfa_verify_refuses_plain_http_from_a_secure_request(client, world, settings):
    response = _verify(client, world, "next=http://testserver/clients/", secure=True)
    assert response["Location"] == "/"


def test_an_htmx_fragment_before_verification_gets_nothing_not_the_verification_page(client, world):
    """The header's notification count loads by htmx on the verification page itself: a
    redirect would swap a second copy of that page (and its Verify button) into the header."""
    totp_device(world.therapist.user)
    client.post("/sign-in/", {"username": world.therapist.user.email, "password": PASSWORD})
    response = client.get("/notifications/bell/", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.content == b""
    page = client.get("/notifications/bell/")
    assert page.status_code == 302 and "/mfa/" in page["Location"]
