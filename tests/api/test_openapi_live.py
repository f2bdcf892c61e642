"""The served OpenAPI document against the live API (issue 13): a consent signed with exactly
the body the document describes succeeds, and live responses conform to the documented
schema, both as JSON against the document and through the documented pydantic class."""

import datetime

import pytest
from pydantic import TypeAdapter

from kapflow.consents.models import ConsentSignature
from kapflow.core import clock
from tests.api.openapi import (
    class_named,
    mismatches,
    ref_name,
    request_schema,
    resolve,
    response_schema,
)
from tests.conftest import sign_in
from tests.consents.factories import current
from tests.journal.factories import course_with_dosings, entry
from tests.messaging.factories import care_thread, partner_thread
from tests.outcomes.factories import treated_client

PREFIX = "/api/v1"


@pytest.fixture
def document(client, db):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.json()


def _documented_class(document, schema):
    """The pydantic type the document names for a response: a class, or a list of one."""
    if schema.get("type") == "array":
        return list[class_named(ref_name(schema["items"]))]
    return class_named(ref_name(schema))


def _check(document, path, data):
    """`data` (a 200 body of GET `path`) conforms to the document and to its named class."""
    schema = response_schema(document, "get", path)
    assert mismatches(document, schema, data) == []
    documented = _documented_class(document, schema)
    items = data if isinstance(data, list) else [data]
    item_type = documented.__args__[0] if isinstance(data, list) else documented
    for item in items:
        item_type.model_validate(item)
    TypeAdapter(documented).validate_python(data)


# ---- a consent signed with the documented body ------------------------------------------------


def test_a_consent_signed_with_the_documented_body_is_saved(client, world, document):
    path = f"{PREFIX}/consents/mine/signatures"
    schema = request_schema(document, "post", path)
    doc = current(world.practice, "kap")
    valid = {
        "document_id": doc.pk,
        "typed_name": f"{world.client.legal_first_name} {world.client.legal_last_name}",
        "signed_on": clock.clinical_date(world.practice).isoformat(),
        "understood": True,
    }
    required = schema["required"]
    # The documented body is the consent's: every required property is one a signature
    # needs, of the documented type.
    assert set(required) <= set(valid), required
    body = {name: valid[name] for name in required}
    assert mismatches(document, schema, body) == []
    sign_in(client, world.client_member.user)
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert ConsentSignature.objects.filter(client=world.client, document=doc).count() == 1
    assert mismatches(document, response_schema(document, "post", path, 201), response.json()) == []


def test_a_note_signature_is_documented_as_a_note_signature(document):
    consent = request_schema(document, "post", f"{PREFIX}/consents/mine/signatures")
    note = request_schema(document, "post", f"{PREFIX}/notes/{{note_id}}/sign")
    assert "document_id" in consent["properties"] and "signature_name" in note["properties"]


# ---- live responses against their documented schema -------------------------------------------


def test_practice_outcomes_conform(client, world, document):
    # 11 with depression and 1 with anxiety: by condition both cells are suppressed (every
    # number null); all together, one cell with every number.
    for condition, count in {"depression": 11, "anxiety": 1}.items():
        for _ in range(count):
            treated_client(world, [16, 8], condition=condition)
    sign_in(client, world.admin.user)
    path = f"{PREFIX}/outcomes/practice"
    for group_by in ("condition", "all"):
        response = client.get(path, {"group_by": group_by})
        assert response.status_code == 200, response.content
        data = response.json()
        assert data["groups"]
        _check(document, path, data)
    assert any(not g["suppressed"] for g in data["groups"])


def test_message_threads_conform(client, world, document):
    care_thread(world)
    partner_thread(world)
    sign_in(client, world.therapist.user)
    path = f"{PREFIX}/messages"
    response = client.get(path)
    assert response.status_code == 200, response.content
    data = response.json()
    assert len(data["results"]) == 2 and all(t["participants"] for t in data["results"])
    _check(document, path, data)


def test_journal_entries_conform(client, world, document):
    course = course_with_dosings(world.client, world.therapist)
    dosing = course.events.filter(kind="dosing").first()
    entry(world.client, dosing_event=dosing, shared=True)
    entry(world.client, kind="reflection")
    client.force_login(
        world.client_member.user, backend="django.contrib.auth.backends.ModelBackend"
    )
    path = f"{PREFIX}/journal/entries"
    response = client.get(path)
    assert response.status_code == 200, response.content
    data = response.json()
    assert len(data) == 2
    _check(document, path, data)


def test_mismatches_finds_an_undocumented_property_and_a_wrong_type(document):
    schema = resolve(document, response_schema(document, "get", f"{PREFIX}/journal/entries"))
    item = schema["items"]
    now = datetime.datetime.now(datetime.UTC).isoformat()
    good = {
        "id": 1, "kind": "reflection", "course_id": None, "dosing_event_id": None,
        "dosing_session_at": None, "body": "x", "shared": False, "created_at": now,
        "updated_at": now, "shared_at": None,
    }  # fmt: skip
    assert mismatches(document, item, good) == []
    assert mismatches(document, item, good | {"occurred_at": now})
    assert mismatches(document, item, good | {"id": "1"})
    assert mismatches(document, item, {k: v for k, v in good.items() if k != "body"})
