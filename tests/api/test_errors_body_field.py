"""A JSON field that is itself called "body" keeps its name in a 422."""

import json

import pytest

from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def test_a_field_called_body_is_named_in_the_error(client, world):
    sign_in(client, world.client_member.user)
    response = client.post(
        "/api/v1/journal/entries",
        data=json.dumps({"kind": "intention", "body": ["not", "text"], "shared": False}),
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


def test_a_nul_character_anywhere_is_a_422_naming_the_field(client, world):
    sign_in(client, world.client_member.user)
    response = client.post(
        "/api/v1/journal/entries",
        data=json.dumps({"kind": "intention", "body": "calm\x00", "shared": False}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "body",
        "code": "null_character",
        "message": "Text must not contain NUL characters.",
    }
