"""Errors the contract run (tests/api/test_contract.py, decision 0040) found answered but not
in the served document: each such answer is now a documented status of its operation, in the
API's error shape."""

import json

import pytest

from tests.conftest import sign_in

PREFIX = "/api/v1"

# (who, method, documented path, query, body, status). {client_id} is practice B's client,
# so practice A's people get 404 for it.
ROWS = [
    ("therapist", "get", "/clients", "?page=0", None, 422),
    ("client_member", "get", "/clients", "", None, 404),
    ("client_member", "post", "/clients/search", "", {}, 404),
    ("therapist", "post", "/clients", "", {"legal_first_name": ""}, 422),
    ("therapist", "get", "/clients/{client_id}", "", None, 404),
    ("therapist", "patch", "/clients/{client_id}", "", {}, 404),
    ("therapist", "get", "/clients/{client_id}/care-team", "", None, 404),
    ("therapist", "post", "/clients/{client_id}/care-team", "", {"role": "x"}, 422),
    ("therapist", "post", "/clients/{client_id}/care-team/{member_id}/end", "",
     {"reason": "moved"}, 404),
    ("therapist", "get", "/members", "", None, 404),
    ("therapist", "get", "/audit", "", None, 404),
    ("admin", "get", "/audit", "?since=yesterday", None, 422),
    ("admin", "get", "/amendments", "?show=mine", None, 422),
    ("therapist", "get", "/messages", "?page=first", None, 422),
    ("therapist", "get", "/prescribing/medications", "", None, 422),
    ("therapist", "get", "/prescribing/referrals", "?status=lost", None, 422),
]  # fmt: skip


@pytest.fixture
def document(client, db):
    return client.get(f"{PREFIX}/openapi.json").json()


@pytest.mark.parametrize(
    ("who", "method", "path", "query", "body", "status"),
    ROWS,
    ids=[f"{row[1]} {row[2]}{row[3]} {row[0]}" for row in ROWS],
)
def test_the_answer_is_a_documented_status(
    client, world, document, who, method, path, query, body, status
):
    sign_in(client, getattr(world, who).user)
    url = PREFIX + path.format(client_id=world.other_client.pk, member_id=1) + query
    kwargs = {} if body is None else {"data": json.dumps(body), "content_type": "application/json"}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.content
    assert str(status) in document["paths"][PREFIX + path][method]["responses"]
    errors = response.json()["errors"]
    assert errors and all(set(e) >= {"field", "code", "message"} for e in errors)


def test_every_operation_that_takes_input_documents_422(document):
    """Any query parameter or body can be invalid, and invalid input is a 422."""
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if (
            "requestBody" in operation
            or any(p["in"] == "query" for p in operation.get("parameters", []))
        )
        and "422" not in operation["responses"]
    ]
    assert missing == []
