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
