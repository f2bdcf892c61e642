"""The JSON API: token auth, one error shape, field-named validation, never a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services
from kapflow.patients.models import Client
from tests.conftest import sign_in


@pytest.fixture
def token(world):
    _, raw = services.api_token_create(actor=world.therapist, name="tests", mfa_verified=True)
    return raw


def _auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_openapi_schema_is_published(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/clients" in paths and "/api/v1/clients/{client_id}" in paths


def test_token_auth_acts_for_its_membership(client, world, token):
    me = client.get("/api/v1/me", **_auth(token)).json()
    assert me["acting_as"]["organisation_id"] == world.practice.pk
    assert me["acting_as"]["roles"] == ["therapist"]
    assert client.get(f"/api/v1/clients/{world.client.pk}", **_auth(token)).status_code == 200
    assert client.get(f"/api/v1/clients/{world.other_client.pk}", **_auth(token)).status_code == 404


def test_revoked_or_wrong_token_is_401_with_error_shape(client, world, token):
    services.api_token_revoke(actor=world.therapist, token_id=world.therapist.tokens.get().pk)
    response = client.get("/api/v1/clients", **_auth(token))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthenticated"
    assert client.get("/api/v1/clients", **_auth("kf_nonsense")).status_code == 401


def test_create_client_validation_names_each_field(client, world, token):
    before = Client.objects.count()
    response = client.post(
        "/api/v1/clients",
        data=json.dumps({"legal_first_name": "", "date_of_birth": "not-a-date", "state": "ZZ"}),
        content_type="application/json",
        **_auth(token),
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"legal_first_name", "legal_last_name", "date_of_birth", "state"} <= fields
    assert Client.objects.count() == before


def test_model_validation_reaches_the_api_with_field_names(client, world, token):
    response = client.post(
        "/api/v1/clients",
        data=json.dumps(
            {
                "legal_first_name": "Robin",
                "legal_last_name": "Example",
                "date_of_birth": "2999-01-01",
                "state": "OR",
                "email": "bad",
            }
        ),
        content_type="application/json",
        **_auth(token),
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"date_of_birth", "email"}


def test_create_then_read_client(client, world, token):
    response = client.post(
        "/api/v1/clients",
        data=json.dumps(
            {
                "legal_first_name": "Robin",
                "legal_last_name": "Example",
                "date_of_birth": "1990-01-01",
                "state": "OR",
            }
        ),
        content_type="application/json",
        **_auth(token),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["care_team"][0]["membership_id"] == world.therapist.pk


def test_search_is_a_post_and_finds_by_name(client, world, token):
    response = client.post(
        "/api/v1/clients/search",
        data=json.dumps({"q": world.client.legal_last_name}),
        content_type="application/json",
        **_auth(token),
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [world.client.pk]


def test_care_team_licence_warning_is_409_then_acknowledged(client, world):
    sign_in(client, world.admin.user)
    world.unreferred.state = "WA"
    world.unreferred.save()
    url = f"/api/v1/clients/{world.unreferred.pk}/care-team"
    body = {"membership_id": world.therapist2.pk, "role": "therapist"}
    first = client.post(url, data=json.dumps(body), content_type="application/json")
    assert first.status_code == 409
    assert first.json()["errors"][0]["code"] == "care_team.licence_warning"
    second = client.post(
        url,
        data=json.dumps({**body, "acknowledge_warnings": True}),
        content_type="application/json",
    )
    assert second.status_code == 201
    assert "Washington" in second.json()["licence_warning"]


def test_patch_rejects_null_for_required_fields(client, world):
    sign_in(client, world.admin.user)
    response = client.patch(
        f"/api/v1/clients/{world.client.pk}",
        data=json.dumps({"legal_last_name": None}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "legal_last_name"


def test_malformed_json_is_a_4xx(client, world, token):
    response = client.post(
        "/api/v1/clients", data="{not json", content_type="application/json", **_auth(token)
    )
    assert 400 <= response.status_code < 500


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [
        "legal_first_name",
        "legal_last_name",
        "date_of_birth",
        "state",
        "email",
        "postal_code",
        "q",
        "page",
        "sort",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(field_names, json_values, max_size=6))
def test_no_input_gives_a_server_error(client, world, token, body):
    for method, url in [
        ("post", "/api/v1/clients"),
        ("patch", f"/api/v1/clients/{world.client.pk}"),
        ("post", "/api/v1/clients/search"),
    ]:
        response = getattr(client, method)(
            url, data=json.dumps(body), content_type="application/json", **_auth(token)
        )
        assert response.status_code < 500, (url, body, response.content[:300])
        if response.status_code >= 400:
            assert "errors" in response.json()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["page", "state", "sort", "q"]), st.text(max_size=20), max_size=4
    )
)
def test_no_query_string_gives_a_server_error(client, world, token, params):
    response = client.get("/api/v1/clients", params, **_auth(token))
    assert response.status_code < 500
    sign_in(client, world.admin.user)
    assert client.get("/clients/", params).status_code < 500
    assert client.get("/audit/", params).status_code < 500
