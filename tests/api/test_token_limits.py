"""API tokens expire, carry a scope and the MFA state of their making; tokens made in demo mode
without MFA stop working once demo mode is off (decision 0034)."""

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from kapflow.accounts import services
from kapflow.accounts.models import ApiToken, ApiTokenMfa
from kapflow.core import clock
from kapflow.core.errors import DomainError
from tests.conftest import sign_in


def _auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _client_body():
    return json.dumps(
        {"legal_first_name": "Ada", "legal_last_name": "Example", "state": "OR",
         "date_of_birth": "1980-01-01"}
    )  # fmt: skip


def test_a_token_expires_after_the_days_chosen(client, world, time_machine):
    time_machine.move_to(dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC), tick=False)
    token, raw = services.api_token_create(actor=world.therapist, name="t", mfa_verified=True)
    assert token.expires_at == clock.now() + dt.timedelta(days=90)
    assert client.get("/api/v1/me", **_auth(raw)).status_code == 200
    time_machine.move_to(dt.datetime(2027, 5, 30, 12, 0, 1, tzinfo=dt.UTC), tick=False)
    response = client.get("/api/v1/me", **_auth(raw))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthenticated"


@pytest.mark.parametrize("days", [0, 366, 1000])
def test_a_token_lasts_at_most_a_year(world, days):
    with pytest.raises(ValidationError) as caught:
        services.api_token_create(actor=world.therapist, name="t", mfa_verified=True, days=days)
    assert "days" in caught.value.message_dict
    assert not ApiToken.objects.exists()


def test_a_read_only_token_may_read_but_not_write(client, world):
    _, raw = services.api_token_create(
        actor=world.therapist, name="t", mfa_verified=True, scope="read"
    )
    assert client.get("/api/v1/clients", **_auth(raw)).status_code == 200
    response = client.post(
        "/api/v1/clients", _client_body(), content_type="application/json", **_auth(raw)
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "token.read_only"
    patch = client.patch(f"/api/v1/clients/{world.client.pk}", "{}", **_auth(raw))
    assert patch.status_code == 403
    assert (
        client.delete(f"/api/v1/tokens/{ApiToken.objects.get().pk}", **_auth(raw)).status_code
        == 403
    )


def test_a_demo_token_made_without_mfa_is_refused_once_demo_mode_is_off(client, world, settings):
    settings.KAPFLOW_DEMO_MODE = True
    token, raw = services.api_token_create(actor=world.therapist, name="t", mfa_verified=False)
    assert token.mfa == ApiTokenMfa.DEMO_SKIPPED
    assert client.get("/api/v1/me", **_auth(raw)).status_code == 200
    settings.KAPFLOW_DEMO_MODE = False
    assert client.get("/api/v1/me", **_auth(raw)).status_code == 401


def test_a_token_of_unknown_origin_is_refused_outside_demo_mode(client, world):
    token, raw = services.api_token_create(actor=world.therapist, name="t", mfa_verified=True)
    ApiToken.objects.filter(pk=token.pk).update(mfa=ApiTokenMfa.UNKNOWN)
    assert client.get("/api/v1/me", **_auth(raw)).status_code == 401
    with override_settings(KAPFLOW_DEMO_MODE=True):
        assert client.get("/api/v1/me", **_auth(raw)).status_code == 200


def test_no_token_without_mfa_outside_demo_mode(world):
    with pytest.raises(DomainError):
        services.api_token_create(actor=world.therapist, name="t", mfa_verified=False)
    assert not ApiToken.objects.exists()


def test_the_api_makes_lists_and_revokes_tokens_from_a_session(client, world):
    sign_in(client, world.therapist.user)
    made = client.post(
        "/api/v1/tokens",
        json.dumps({"name": "ci", "scope": "read", "days": 30}),
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["scope"] == "read" and body["mfa"] == "verified" and body["status"] == "active"
    assert body["token"].startswith("kf_")
    listed = client.get("/api/v1/tokens").json()
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0]
    too_long = client.post(
        "/api/v1/tokens", json.dumps({"name": "x", "days": 400}), content_type="application/json"
    )
    assert too_long.status_code == 422
    assert client.delete(f"/api/v1/tokens/{body['id']}").status_code == 200
    assert ApiToken.objects.get().revoked_at is not None


def test_a_token_cannot_make_a_token(client, world):
    _, raw = services.api_token_create(actor=world.therapist, name="t", mfa_verified=True)
    response = client.post(
        "/api/v1/tokens", json.dumps({"name": "child"}), content_type="application/json",
        **_auth(raw),
    )  # fmt: skip
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_the_security_page_lets_a_person_choose_scope_and_expiry(client, world):
    sign_in(client, world.therapist.user)
    page = client.post("/security/", {"name": "reports", "scope": "read", "days": "30"})
    assert page.status_code == 200
    token = ApiToken.objects.get()
    assert token.scope == "read" and token.mfa == ApiTokenMfa.VERIFIED
    assert token.expires_at - token.created_at == dt.timedelta(days=30)
    html = page.content.decode()
    assert "Read only" in html and "After MFA" in html
    assert token.expires_at.strftime("%Y-%m-%d") in html or "Expires" in html
