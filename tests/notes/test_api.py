"""The notes API: templates, create, read, autosave with versions (stale = 409), sign
(422 naming the field), addenda, co-sign, delete; who gets 404 or 403; pinned queries on
the list; the OpenAPI paths; and no 5xx for any body."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.notes.models import Note
from tests.notes.factories import draft, signed, supervise

URL = "/api/v1/notes"


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _send(client, method, path, body=None, **headers):
    return getattr(client, method)(
        URL + path, data=json.dumps(body), content_type="application/json", **headers
    )


def _errors(response) -> list[tuple]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def test_templates_list_every_session_type_and_format(client, world):
    response = client.get(f"{URL}/templates", **_token(world.therapist))
    assert response.status_code == 200
    data = response.json()
    assert len(data) == 12
    dosing = next(t for t in data if (t["session_type"], t["format"]) == ("dosing", "soap"))
    assert [s["key"] for s in dosing["sections"]][-1] == "discharge"
    assert all(s["prompt"] and isinstance(s["required"], bool) for s in dosing["sections"])


def test_a_note_is_written_autosaved_signed_and_amended(client, world):
    me = _token(world.therapist)
    made = _send(client, "post", "", {"client_id": world.client.pk, "session_type": "therapy",
                                      "format": "dap"}, **me)  # fmt: skip
    assert made.status_code == 201, made.content
    note = made.json()
    assert (note["status"], note["version"], note["kind"]) == ("draft", 1, "progress")
    assert note["sections"] == {"data": "", "assessment": "", "plan": ""}
    path = f"/{note['id']}"
    saved = _send(client, "put", path, {"version": 1, "sections": {"data": "Talked."}}, **me)
    assert saved.status_code == 200 and saved.json()["version"] == 2
    stale = _send(client, "put", path, {"version": 1, "sections": {"data": "Other."}}, **me)
    assert stale.status_code == 409 and _errors(stale) == [("version", "note.stale")]
    missing = _send(client, "post", f"{path}/sign",
                    {"signature_name": world.therapist.user.full_name}, **me)  # fmt: skip
    assert missing.status_code == 422
    assert {f for f, _ in _errors(missing)} == {"sections.assessment", "sections.plan"}
    _send(client, "put", path, {"version": 2, "sections": {"assessment": "A.", "plan": "P."}},
          **me)  # fmt: skip
    wrong = _send(client, "post", f"{path}/sign", {"signature_name": "Not Me"}, **me)
    assert wrong.status_code == 422 and _errors(wrong) == [("signature_name", "invalid")]
    name = world.therapist.user.full_name
    done = _send(client, "post", f"{path}/sign", {"signature_name": name, "version": 3}, **me)
    assert done.status_code == 200 and done.json()["status"] == "signed"
    assert done.json()["final"] and len(done.json()["content_sha256"]) == 64
    locked = _send(client, "put", path, {"version": 4, "sections": {"data": "Later."}}, **me)
    assert locked.status_code == 409 and _errors(locked) == [(None, "note.signed")]
    gone = client.delete(URL + path, **me)
    assert gone.status_code == 409
    added = _send(client, "post", f"{path}/addenda", {"text": "Phoned next day."}, **me)
    assert added.status_code == 201
    assert [a["text"] for a in added.json()["addenda"]] == ["Phoned next day."]


def test_the_supervisor_cosigns_over_the_api(client, world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    queue = client.get(f"{URL}/cosign-queue", **_token(world.therapist2)).json()
    assert [n["id"] for n in queue] == [note.pk] and not queue[0]["final"]
    refused = _send(client, "post", f"/{note.pk}/cosign",
                    {"signature_name": world.therapist.user.full_name},
                    **_token(world.therapist))  # fmt: skip
    assert refused.status_code == 403
    done = _send(client, "post", f"/{note.pk}/cosign",
                 {"signature_name": world.therapist2.user.full_name},
                 **_token(world.therapist2))  # fmt: skip
    assert done.status_code == 200 and done.json()["final"]
    assert done.json()["cosigned_by_id"] == world.therapist2.pk


def test_the_author_deletes_a_draft(client, world):
    note = draft(world.client, world.therapist)
    assert client.delete(f"{URL}/{note.pk}", **_token(world.therapist)).status_code == 204
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    ("who", "therapy", "dosing", "psychotherapy"),
    [
        ("therapist", 200, 200, 200),
        ("admin", 200, 200, 404),
        ("prescriber", 404, 200, 404),
        ("therapist2", 404, 404, 404),
        ("biller", 404, 404, 404),
        ("other_admin", 404, 404, 404),
        ("other_therapist", 404, 404, 404),
    ],
)
def test_who_reads_which_note(client, world, who, therapy, dosing, psychotherapy):
    notes = {
        "therapy": signed(world.client, world.therapist, session_type="therapy"),
        "dosing": signed(world.client, world.therapist, session_type="dosing"),
        "psychotherapy": signed(
            world.client, world.therapist, session_type="therapy", kind="psychotherapy"
        ),
    }
    headers = _token(getattr(world, who))
    for name, status in (("therapy", therapy), ("dosing", dosing),
                         ("psychotherapy", psychotherapy)):  # fmt: skip
        response = client.get(f"{URL}/{notes[name].pk}", **headers)
        assert response.status_code == status, (who, name)
        if status == 404:
            assert _errors(response) == [(None, "not_found")]


@pytest.mark.parametrize(
    ("who", "status"),
    [("therapist", 201), ("prescriber", 201), ("admin", 403), ("biller", 404),
     ("therapist2", 404), ("other_admin", 404)],
)  # fmt: skip
def test_who_starts_a_dosing_note(client, world, who, status):
    body = {"client_id": world.client.pk, "session_type": "dosing"}
    assert _send(client, "post", "", body, **_token(getattr(world, who))).status_code == status


def test_clients_and_companions_get_404(client, world):
    note = signed(world.client, world.therapist)
    for membership in (world.client_member, world.companion):
        client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
        for path in ("/templates", f"/{note.pk}", f"/clients/{world.client.pk}"):
            assert client.get(URL + path).status_code == 404
        client.logout()


def test_the_client_list_pins_its_queries(client, world):
    headers = _token(world.therapist)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{URL}/clients/{world.client.pk}", **headers)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json())

    signed(world.client, world.therapist)
    small, rows = count()
    for _ in range(5):
        signed(world.client, world.therapist, session_type="integration")
    large, more = count()
    assert (rows, more, large) == (1, 6, small)


def test_openapi_documents_the_notes_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in [f"{URL}", f"{URL}/templates", f"{URL}/{{note_id}}", f"{URL}/{{note_id}}/sign",
                 f"{URL}/{{note_id}}/addenda", f"{URL}/{{note_id}}/cosign",
                 f"{URL}/clients/{{client_id}}", f"{URL}/cosign-queue"]:  # fmt: skip
        assert path in paths, path


# ---- no input causes a 5xx ----------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["dosing", "dap", "soap", "psychotherapy", "\x00", "x" * 20_001])
)
values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=8), scalars)
keys = ["client_id", "session_type", "format", "kind", "course_id", "appointment_id",
        "session_date", "version", "sections", "signature_name", "text", "x"]  # fmt: skip
bodies = st.dictionaries(st.sampled_from(keys), values, max_size=6) | scalars


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_body_gives_a_server_error(client, world, body):
    with transaction.atomic():
        mine = draft(world.client, world.therapist, session_type="therapy", fmt="dap")
        done = signed(world.client, world.therapist, session_type="therapy")
        headers = _token(world.therapist)
        valid = {"client_id": world.client.pk, "session_type": "therapy", "version": 1,
                 "sections": {"plan": "x"}, "signature_name": "x", "text": "x"}  # fmt: skip
        payloads = [body] + ([valid | body] if isinstance(body, dict) else [])
        for payload in payloads:
            for method, path in [
                ("post", ""), ("put", f"/{mine.pk}"), ("post", f"/{mine.pk}/sign"),
                ("post", f"/{done.pk}/addenda"), ("post", f"/{done.pk}/cosign"),
            ]:  # fmt: skip
                response = _send(client, method, path, payload, **headers)
                assert response.status_code < 500, (path, payload, response.content[:300])
                if response.status_code >= 400:
                    assert "errors" in response.json()
        transaction.set_rollback(True)
