"""Idempotency-Key on API writes (decision 0038): a repeat is answered from the first
response, a key is never reused for a different request, and records go after 24 hours."""

import datetime as dt
import json

import pytest
from django.core.management import call_command

from kapflow.accounts import services as account_services
from kapflow.core import idempotency
from kapflow.core.models import IdempotencyKind, IdempotencyRecord
from kapflow.patients.models import Client
from tests.conftest import sign_in

NEW_CLIENT = {
    "legal_first_name": "Juniper",
    "legal_last_name": "Okafor",
    "date_of_birth": "1990-04-02",
    "state": "OR",
}


def _token(membership) -> str:
    _, raw = account_services.api_token_create(actor=membership, name="idem", mfa_verified=True)
    return raw


def _post(client, raw, body, key=None, path="/api/v1/clients"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_a_repeat_with_the_same_key_replays_the_first_response(client, world):
    raw = _token(world.therapist)
    before = Client.objects.count()
    first = _post(client, raw, NEW_CLIENT, key="4e5d0c0e-create-juniper")
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    again = _post(client, raw, NEW_CLIENT, key="4e5d0c0e-create-juniper")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert Client.objects.count() == before + 1


def test_twenty_identical_submits_make_one_row(client, world):
    raw = _token(world.therapist)
    before = Client.objects.count()
    answers = {_post(client, raw, NEW_CLIENT, key="twenty").status_code for _ in range(20)}
    assert answers == {201}
    assert Client.objects.count() == before + 1


def test_without_a_key_every_request_runs(client, world):
    raw = _token(world.therapist)
    before = Client.objects.count()
    assert _post(client, raw, NEW_CLIENT).status_code == 201
    assert _post(client, raw, NEW_CLIENT).status_code == 201
    assert Client.objects.count() == before + 2
    assert not IdempotencyRecord.objects.exists()


def test_the_same_key_with_a_different_body_is_422_naming_the_header(client, world):
    raw = _token(world.therapist)
    assert _post(client, raw, NEW_CLIENT, key="k-1").status_code == 201
    before = Client.objects.count()
    other = _post(client, raw, {**NEW_CLIENT, "legal_first_name": "Rowan"}, key="k-1")
    assert other.status_code == 422
    (error,) = other.json()["errors"]
    assert error["field"] == "Idempotency-Key"
    assert error["code"] == "idempotency_key.reused"
    assert Client.objects.count() == before


def test_the_same_key_on_another_path_is_422(client, world):
    raw = _token(world.therapist)
    assert _post(client, raw, NEW_CLIENT, key="k-2").status_code == 201
    response = _post(client, raw, NEW_CLIENT, key="k-2", path="/api/v1/clients/search")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "idempotency_key.reused"


def test_a_repeat_while_the_first_is_in_flight_is_409(client, world):
    """The first copy's claim is committed before its work runs; a second copy meanwhile
    finds it unfinished. (The claim is made here as the first copy would have made it.)"""
    raw = _token(world.therapist)
    body = json.dumps(NEW_CLIENT)
    fingerprint = idempotency.sha256(f"POST\n/api/v1/clients\n{idempotency.sha256(body)}")
    found = idempotency.claim(
        kind=IdempotencyKind.API,
        principal=f"member:{world.therapist.user_id}:{world.practice.pk}",
        key="slow",
        fingerprint=fingerprint,
    )
    assert found.outcome == "claimed"
    before = Client.objects.count()
    response = _post(client, raw, NEW_CLIENT, key="slow")
    assert response.status_code == 409
    (error,) = response.json()["errors"]
    assert (error["field"], error["code"]) == ("Idempotency-Key", "idempotency_key.in_flight")
    assert Client.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_two_copies_at_once_make_one_row(world, monkeypatch):
    """Two copies in two threads: the first is held inside the service until the second has
    been answered. The committed claim is what the second finds (409), on either database."""
    import threading

    from django.db import connection
    from django.test import Client as HttpClient

    from kapflow.patients import services as patient_services

    raw = _token(world.therapist)
    real = patient_services.client_create
    inside, go_on = threading.Event(), threading.Event()

    def held(**kwargs):
        inside.set()
        assert go_on.wait(timeout=30)
        return real(**kwargs)

    monkeypatch.setattr(patient_services, "client_create", held)
    before = Client.objects.count()
    answers = {}

    def first():
        try:
            answers["first"] = _post(HttpClient(), raw, NEW_CLIENT, key="together").status_code
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(timeout=30)
        answers["second"] = _post(HttpClient(), raw, NEW_CLIENT, key="together").status_code
    finally:
        go_on.set()
        thread.join(timeout=30)
    assert answers == {"first": 201, "second": 409}
    assert Client.objects.count() == before + 1
    third = _post(HttpClient(), raw, NEW_CLIENT, key="together")
    assert (third.status_code, third["Idempotent-Replayed"]) == (201, "true")


def test_an_abandoned_claim_is_taken_over(client, world, time_machine):
    """A worker killed mid-request leaves its claim unfinished; after ten minutes the next
    copy runs instead of getting 409 until the purge."""
    time_machine.move_to(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC), tick=False)
    raw = _token(world.therapist)
    body = json.dumps(NEW_CLIENT)
    idempotency.claim(
        kind=IdempotencyKind.API,
        principal=f"member:{world.therapist.user_id}:{world.practice.pk}",
        key="killed",
        fingerprint=idempotency.sha256(f"POST\n/api/v1/clients\n{idempotency.sha256(body)}"),
    )
    time_machine.move_to(dt.datetime(2026, 3, 2, 15, 11, tzinfo=dt.UTC), tick=False)
    assert _post(client, raw, NEW_CLIENT, key="killed").status_code == 201
    assert _post(client, raw, NEW_CLIENT, key="killed")["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "naïve-key", "tab\there", "line\nbreak"],
    ids=["empty", "blank", "too-long", "non-ascii", "tab", "newline"],
)
def test_a_malformed_key_is_400_naming_the_header(client, world, key):
    raw = _token(world.therapist)
    before = Client.objects.count()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_IDEMPOTENCY_KEY": key}
    response = client.post(
        "/api/v1/clients", data=json.dumps(NEW_CLIENT), content_type="application/json",
        **headers,
    )  # fmt: skip
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["field"], error["code"]) == ("Idempotency-Key", "idempotency_key.invalid")
    assert Client.objects.count() == before


def test_keys_of_255_characters_and_quoted_keys_are_accepted(client, world):
    raw = _token(world.therapist)
    assert _post(client, raw, NEW_CLIENT, key="k" * 255).status_code == 201
    # The draft's Structured Field form: "..." is the same key as the bare one.
    assert _post(client, raw, NEW_CLIENT, key='"quoted-1"').status_code == 201
    assert _post(client, raw, NEW_CLIENT, key="quoted-1")["Idempotent-Replayed"] == "true"


def test_reads_ignore_the_header(client, world):
    raw = _token(world.therapist)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_IDEMPOTENCY_KEY": "x" * 300}
    assert client.get("/api/v1/clients", **headers).status_code == 200
    assert not IdempotencyRecord.objects.exists()


def test_another_principal_with_the_same_key_is_a_different_record(client, world):
    """The key belongs to the token's user and organisation: someone else's identical key
    neither replays their response nor blocks them."""
    mine, theirs = _token(world.therapist), _token(world.other_therapist)
    first = _post(client, mine, NEW_CLIENT, key="shared-key")
    second = _post(client, theirs, NEW_CLIENT, key="shared-key")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert first.json()["id"] != second.json()["id"]
    assert Client.objects.get(pk=second.json()["id"]).organisation == world.other
    assert IdempotencyRecord.objects.count() == 2


def test_a_session_user_and_a_token_are_different_principals(client, world):
    raw = _token(world.therapist)
    assert _post(client, raw, NEW_CLIENT, key="door").status_code == 201
    sign_in(client, world.therapist.user)
    by_session = client.post(
        "/api/v1/clients", data=json.dumps(NEW_CLIENT), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="door",
    )  # fmt: skip
    assert by_session.status_code == 201
    assert "Idempotent-Replayed" not in by_session
    again = client.post(
        "/api/v1/clients", data=json.dumps(NEW_CLIENT), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="door",
    )  # fmt: skip
    assert again["Idempotent-Replayed"] == "true"
    principals = set(IdempotencyRecord.objects.values_list("principal", flat=True))
    assert principals == {
        f"member:{world.therapist.user_id}:{world.practice.pk}",
        f"user:{world.therapist.user_id}",
    }


def test_a_refusal_is_kept_and_replayed_too(client, world):
    """A 4xx is the answer to that request: the repeat gets it again, not a second try."""
    raw = _token(world.therapist)
    missing = f"/api/v1/clients/{world.other_client.pk}/care-team"
    body = {"membership_id": world.therapist2.pk, "role": "therapist"}
    first = _post(client, raw, body, key="r", path=missing)
    assert first.status_code == 404
    again = _post(client, raw, body, key="r", path=missing)
    assert again.status_code == 404
    assert again["Idempotent-Replayed"] == "true"


def test_a_server_error_is_not_kept(client, world, monkeypatch):
    """A 5xx keeps nothing: the key is free, and the retry runs."""
    from kapflow.patients import services as patient_services

    raw = _token(world.therapist)
    real = patient_services.client_create

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(patient_services, "client_create", broken)
    failed = _post(client, raw, NEW_CLIENT, key="retry-me")
    assert failed.status_code == 500
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(patient_services, "client_create", real)
    retried = _post(client, raw, NEW_CLIENT, key="retry-me")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried


def test_unauthenticated_writes_claim_nothing(client, world):
    response = client.post(
        "/api/v1/clients", data=json.dumps(NEW_CLIENT), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="anon",
    )  # fmt: skip
    assert response.status_code == 401
    assert not IdempotencyRecord.objects.exists()


def test_records_are_purged_after_24_hours(client, world, time_machine):
    start = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    raw = _token(world.therapist)
    assert _post(client, raw, NEW_CLIENT, key="old").status_code == 201
    time_machine.move_to(start + dt.timedelta(hours=23, minutes=59), tick=False)
    assert _post(client, raw, NEW_CLIENT, key="recent").status_code == 201
    assert idempotency.idempotency_purge() == 0
    time_machine.move_to(start + dt.timedelta(hours=24), tick=False)
    assert idempotency.idempotency_purge() == 1
    assert IdempotencyRecord.objects.count() == 1
    call_command("idempotency_purge", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert IdempotencyRecord.objects.count() == 1


def test_an_expired_key_not_yet_purged_runs_again(client, world, time_machine):
    start = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    raw = _token(world.therapist)
    before = Client.objects.count()
    assert _post(client, raw, NEW_CLIENT, key="stale").status_code == 201
    time_machine.move_to(start + dt.timedelta(hours=25), tick=False)
    again = _post(client, raw, NEW_CLIENT, key="stale")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Client.objects.count() == before + 2


def test_the_purge_command_reports_and_the_task_runs(world, time_machine):
    from io import StringIO

    from kapflow.core.tasks import idempotency_purge_task

    start = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    for key in ("a", "b"):
        idempotency.claim(kind=IdempotencyKind.API, principal="user:1", key=key, fingerprint="f")
    time_machine.move_to(start + dt.timedelta(days=2), tick=False)
    out = StringIO()
    call_command("idempotency_purge", stdout=out)
    assert out.getvalue().strip() == "Deleted 2 idempotency records older than 24 hours."
    idempotency.claim(kind=IdempotencyKind.API, principal="user:1", key="c", fingerprint="f")
    time_machine.move_to(start + dt.timedelta(days=4), tick=False)
    idempotency_purge_task.call()
    assert not IdempotencyRecord.objects.exists()


def test_nothing_is_logged_but_ids(client, world, caplog):
    raw = _token(world.therapist)
    caplog.set_level("DEBUG", logger="kapflow.core.idempotency")
    _post(client, raw, NEW_CLIENT, key="secret-key-juniper")
    _post(client, raw, NEW_CLIENT, key="secret-key-juniper")
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "idempotency.replayed" in text
    assert "secret-key-juniper" not in text
    assert "Juniper" not in text and "Okafor" not in text


def test_the_key_is_stored_only_as_its_hash(client, world):
    raw = _token(world.therapist)
    _post(client, raw, NEW_CLIENT, key="plain-key")
    record = IdempotencyRecord.objects.get()
    assert record.key_hash == idempotency.sha256("plain-key")
    assert "plain-key" not in str(record.__dict__)


def test_the_openapi_document_names_the_header_on_every_write(client, db):
    document = client.get("/api/v1/openapi.json").json()
    assert "Idempotency-Key" in document["info"]["description"]
    writes = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", [])]
            if method.upper() in idempotency.WRITE_METHODS:
                writes += 1
                assert "Idempotency-Key" in names, (method, path)
                assert {"400", "409", "422"} <= set(operation["responses"]), (method, path)
            else:
                assert "Idempotency-Key" not in names, (method, path)
    assert writes > 10
