"""The amendments API: the client asks, reads and disagrees in their session; staff read the
queue and decide over a token; the error shape names fields; 403, 404 and 409 where the
rules say; no body causes a 5xx."""

import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.amendments.models import AmendmentRequest
from kapflow.audit.models import AuditEvent
from tests.amendments.factories import SHOULD, WHY, WRONG, ask, gad7
from tests.notes.factories import signed

URL = "/api/v1/amendments"
ASK = {"part": "note", "part_description": "March", "what_is_wrong": WRONG,
       "should_say": SHOULD, "why": WHY}  # fmt: skip

pytestmark = pytest.mark.django_db


def _as(client, membership):
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _send(client, method, path, body=None, **headers):
    return getattr(client, method)(
        URL + path, data=json.dumps(body), content_type="application/json", **headers
    )


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def test_the_client_asks_lists_and_reads_over_the_session(client, world):
    response = gad7(world)
    _as(client, world.client_member)
    questionnaires = client.get(URL + "/mine/questionnaires").json()
    assert [q["id"] for q in questionnaires] == [response.pk]
    made = _send(client, "post", "/mine", ASK | {"part": "assessment", "response_id": response.pk,
                                                 "part_description": ""})  # fmt: skip
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["status"], data["response_id"], data["overdue"]) == ("open", response.pk, False)
    assert data["what_is_wrong"] == WRONG
    row = AmendmentRequest.objects.get()
    assert data["due_on"] == row.due_on.isoformat()
    assert [r["id"] for r in client.get(URL + "/mine").json()] == [row.pk]
    assert client.get(f"{URL}/mine/{row.pk}").json()["should_say"] == SHOULD


def test_bad_bodies_name_their_fields_and_save_nothing(client, world):
    _as(client, world.client_member)
    missing = _send(client, "post", "/mine", {"part": "other", "what_is_wrong": "",
                                              "should_say": "", "why": ""})  # fmt: skip
    assert missing.status_code == 422
    assert _fields(missing) == {"part_description", "what_is_wrong", "should_say", "why"}
    wrong_type = _send(client, "post", "/mine", ASK | {"part": "billing"})
    assert wrong_type.status_code == 422 and _fields(wrong_type) == {"part"}
    huge_id = _send(client, "post", "/mine", ASK | {"response_id": 2**64})
    assert huge_id.status_code == 422 and _fields(huge_id) == {"response_id"}
    nul = _send(client, "post", "/mine", ASK | {"why": "a\x00b"})
    assert nul.status_code == 422 and _fields(nul) == {"why"}
    assert AmendmentRequest.objects.count() == 0


def test_staff_read_the_queue_and_deny_then_the_client_disagrees(client, world):
    row = ask(world)
    headers = _token(world.therapist)
    queue = client.get(URL, **headers)
    assert [r["id"] for r in queue.json()] == [row.pk]
    decided = _send(
        client, "post", f"/{row.pk}/decision",
        {"decision": "deny", "denial_basis": "not_created_here", "explanation": "Elsewhere."},
        **headers,
    )  # fmt: skip
    assert decided.status_code == 200, decided.content
    data = decided.json()
    assert (data["status"], data["denial_basis"], data["licence"]) == (
        "denied", "not_created_here", "LMFT OR X-1",
    )  # fmt: skip
    again = _send(client, "post", f"/{row.pk}/decision", {"decision": "accept",
                  "amendment_text": "x"}, **headers)  # fmt: skip
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "amendment.decided"
    client.logout()
    _as(client, world.client_member)
    filed = _send(client, "post", f"/mine/{row.pk}/disagreement", {"statement": "No."})
    assert filed.status_code == 200 and filed.json()["disagreement"] == "No."
    rebut = _send(client, "post", f"/{row.pk}/rebuttal", {"rebuttal": "Yes."}, **headers)
    assert rebut.status_code == 200 and rebut.json()["rebuttal"] == "Yes."
    assert client.get(f"{URL}/mine/{row.pk}").json()["rebuttal"] == "Yes."


def test_accepting_names_the_missing_note_and_then_attaches_it(client, world):
    note = signed(world.client, world.therapist)
    row = ask(world)
    headers = _token(world.therapist)
    body = {"decision": "accept", "amendment_text": SHOULD}
    missing = _send(client, "post", f"/{row.pk}/decision", body, **headers)
    assert missing.status_code == 422 and _fields(missing) == {"note_id"}
    done = _send(client, "post", f"/{row.pk}/decision", body | {"note_id": note.pk}, **headers)
    assert done.status_code == 200 and done.json()["note_id"] == note.pk


def test_extension_and_its_refusal(client, world):
    row = ask(world)
    headers = _token(world.therapist)
    blank = _send(client, "post", f"/{row.pk}/extension", {"reason": " "}, **headers)
    assert blank.status_code == 422 and _fields(blank) == {"reason"}
    done = _send(client, "post", f"/{row.pk}/extension", {"reason": "Records."}, **headers)
    assert done.status_code == 200 and done.json()["extension_reason"] == "Records."
    twice = _send(client, "post", f"/{row.pk}/extension", {"reason": "More."}, **headers)
    assert twice.status_code == 409
    assert twice.json()["errors"][0]["code"] == "amendment.extension_refused"


@pytest.mark.parametrize(
    ("role", "read", "decide"),
    [("therapist", 200, 200), ("admin", 200, 403), ("therapist2", 404, 404),
     ("biller", 404, 404), ("prescriber", 404, 404), ("other_admin", 404, 404),
     ("other_therapist", 404, 404)],
)  # fmt: skip
def test_who_reads_and_who_decides(client, world, role, read, decide):
    row = ask(world)
    headers = _token(getattr(world, role))
    assert client.get(f"{URL}/{row.pk}", **headers).status_code == read
    assert client.get(f"{URL}/clients/{world.client.pk}", **headers).status_code == read
    body = {"decision": "deny", "denial_basis": "accurate_and_complete", "explanation": "No."}
    assert _send(client, "post", f"/{row.pk}/decision", body, **headers).status_code == decide


def test_the_client_endpoints_are_not_found_for_staff_and_other_clients(client, world):
    row = ask(world)
    headers = _token(world.therapist)
    assert client.get(URL + "/mine", **headers).status_code == 404
    assert client.get(f"{URL}/mine/{row.pk}", **headers).status_code == 404
    _as(client, world.client_member)
    assert client.get(URL).status_code == 404  # the queue is staff's
    assert client.get(f"{URL}/{row.pk}").status_code == 404


def test_a_probe_from_another_practice_is_recorded_for_the_holder(client, world):
    row = ask(world)
    assert client.get(f"{URL}/{row.pk}", **_token(world.other_admin)).status_code == 404
    probe = AuditEvent.objects.get(action="access.denied", target_id=row.pk)
    assert probe.record_organisation_id == world.practice.pk


@settings(
    max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(
    body=st.dictionaries(
        st.sampled_from(["part", "response_id", "part_description", "what_is_wrong",
                         "should_say", "why", "tell_others", "statement"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                  st.lists(st.integers(), max_size=2)),
    )
)  # fmt: skip
def test_no_body_causes_a_server_error(client, world, body):
    _as(client, world.client_member)
    with transaction.atomic():
        response = _send(client, "post", "/mine", body)
        assert response.status_code in (201, 422), response.content
        transaction.set_rollback(True)
