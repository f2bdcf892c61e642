"""Every miss under /api/ is the JSON 404 error shape, and an oversized body is a 413 in the
same shape, never a 500 or an HTML page."""

import json

import pytest

from kapflow.accounts import services
from tests.conftest import sign_in

NOT_FOUND = {"errors": [{"field": None, "code": "not_found", "message": "Not found."}]}
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def token(world):
    _, raw = services.api_token_create(actor=world.therapist, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/clients/abc",
        "/api/v1/clients/1.5",
        "/api/v1/clients/-1",
        "/api/v1/clients/99999999999999999999999999",
        "/api/v1/no-such-thing",
        "/api/v1/clients/1/no-such-thing",
        "/api/v2/clients",
        "/api/",
    ],
)
def test_every_api_miss_is_the_json_404_shape(client, world, token, path):
    response = client.get(path, **token)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(None, "not_found")]


def test_api_miss_is_json_for_a_session_too(client, world):
    sign_in(client, world.therapist.user)
    response = client.get("/api/v1/clients/abc")
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_a_found_client_is_still_found(client, world, token):
    response = client.get(f"/api/v1/clients/{world.client.pk}", **token)
    assert response.status_code == 200
    assert response.json()["id"] == world.client.pk


def test_a_ten_megabyte_json_body_is_413_in_the_error_shape(client, world, token):
    body = json.dumps({"legal_first_name": "x" * TEN_MB})
    response = client.post("/api/v1/clients", body, content_type="application/json", **token)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(None, "too_large")]
    assert "X-Request-Id" in response


def test_a_ten_megabyte_form_body_to_the_api_is_413_too(client, world, token):
    response = client.post(
        "/api/v1/clients",
        "a=" + "x" * TEN_MB,
        content_type="application/x-www-form-urlencoded",
        **token,
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "too_large"


def test_an_oversized_text_field_in_a_multipart_body_is_413(client, world, token):
    response = client.post(
        "/api/v1/clients", {"legal_first_name": "x" * (3 * 1024 * 1024)}, **token
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "too_large"
