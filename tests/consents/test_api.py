"""The consents API: the client's own endpoints (session), staff endpoints (token), the one
error shape, tenancy, and query counts that do not grow with the number of signatures."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapflow.accounts import services as account_services
from kapflow.consents.models import ConsentDocument, ConsentSignature, ConsentWithdrawal
from kapflow.core import clock
from tests.conftest import sign_in
from tests.consents.factories import current, publish, sign

URL = "/api/v1/consents"


def _post(client, path, body, **headers):
    return client.post(
        URL + path, data=json.dumps(body), content_type="application/json", **headers
    )


def _token(actor):
    _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _sign_body(world, document, **overrides):
    return {
        "document_id": document.pk, "understood": True,
        "typed_name": f"{world.client.legal_first_name} {world.client.legal_last_name}",
        "signed_on": clock.clinical_date(world.practice).isoformat(),
    } | overrides  # fmt: skip


def test_client_lists_signs_and_withdraws_through_the_api(client, world):
    document = current(world.practice, "kap")
    sign_in(client, world.client_member.user)
    mine = client.get(URL + "/mine").json()
    assert mine["client_id"] == world.client.pk
    states = {s["kind"]: s["state"] for s in mine["statuses"]}
    assert states["kap"] == "missing" and states["telehealth"] == "unpublished"

    signed = _post(client, "/mine/signatures", _sign_body(world, document))
    assert signed.status_code == 201, signed.content
    body = signed.json()
    assert body["document"]["version"] == 1 and body["withdrawal"] is None
    assert body["content_sha256"] == document.content_sha256

    again = _post(client, "/mine/signatures", _sign_body(world, document))
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "consent.already_signed"

    withdrawn = _post(client, f"/mine/signatures/{body['id']}/withdrawal", {})
    assert withdrawn.status_code == 201, withdrawn.content
    assert withdrawn.json()["withdrawal"]["withdrawn_by_name"] == "the client"
    mine = client.get(URL + "/mine").json()
    assert {s["kind"]: s["state"] for s in mine["statuses"]}["kap"] == "withdrawn"


def test_sign_errors_name_each_field(client, world):
    document = current(world.practice, "kap")
    sign_in(client, world.client_member.user)
    response = _post(
        client, "/mine/signatures",
        _sign_body(world, document, typed_name="Nobody", understood=False,
                   drawn_signature="data:image/png;base64,%%%"),
    )  # fmt: skip
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"typed_name", "understood", "drawn_signature"}
    bad_date = _post(client, "/mine/signatures", _sign_body(world, document, signed_on="soon"))
    assert bad_date.status_code == 422
    assert bad_date.json()["errors"][0]["field"] == "signed_on"
    assert not ConsentSignature.objects.exists()


def test_signing_an_earlier_version_is_409(client, world):
    old = current(world.practice, "kap")
    publish(world.practice, "kap", published_at=timezone.now())
    sign_in(client, world.client_member.user)
    response = _post(client, "/mine/signatures", _sign_body(world, old))
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "consent.not_current"


def test_other_practices_documents_and_signatures_are_404(client, world):
    theirs = current(world.other, "kap")
    their_signature = sign(world.other_client, "kap")
    sign_in(client, world.client_member.user)
    assert _post(client, "/mine/signatures", _sign_body(world, theirs)).status_code == 404
    assert client.get(f"{URL}/mine/documents/{theirs.pk}").status_code == 404
    withdrawal = _post(client, f"/mine/signatures/{their_signature.pk}/withdrawal", {})
    assert withdrawal.status_code == 404
    headers = _token(world.therapist)
    assert client.get(f"{URL}/signatures/{their_signature.pk}", **headers).status_code == 404
    assert client.get(f"{URL}/documents/{theirs.pk}", **headers).status_code == 404
    assert not ConsentWithdrawal.objects.exists()


def test_admin_publishes_and_others_are_refused(client, world):
    body = {"kind": "telehealth", "title": "Telehealth", "body": "At home, with a companion."}
    published = _post(client, "/documents", body, **_token(world.admin))
    assert published.status_code == 201, published.content
    assert published.json()["version"] == 1
    assert _post(client, "/documents", body, **_token(world.therapist)).status_code == 403
    assert _post(client, "/documents", body, **_token(world.prescriber)).status_code == 404
    sign_in(client, world.client_member.user)
    assert _post(client, "/documents", body).status_code == 404
    missing = _post(client, "/documents", {"kind": "kap", "title": " ", "body": " "},
                    **_token(world.admin))  # fmt: skip
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"title", "body"}
    assert ConsentDocument.objects.count() == 1


def test_documents_list_shows_the_current_version_of_each_kind(client, world):
    current(world.practice, "kap")
    publish(world.practice, "kap", published_at=timezone.now())
    rows = {r["kind"]: r for r in client.get(URL + "/documents", **_token(world.therapist)).json()}
    assert rows["kap"]["current"]["version"] == 2
    assert [v["version"] for v in rows["kap"]["versions"]] == [2, 1]
    assert rows["financial_policy"]["current"] is None


def test_clinician_withdraws_on_behalf_through_the_api(client, world):
    signature = sign(world.client, "kap")
    headers = _token(world.therapist)
    no_reason = _post(client, f"/signatures/{signature.pk}/withdrawal", {}, **headers)
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"
    refused = _post(client, f"/signatures/{signature.pk}/withdrawal", {"reason": "x"},
                    **_token(world.admin))  # fmt: skip
    assert refused.status_code == 403
    done = _post(client, f"/signatures/{signature.pk}/withdrawal",
                 {"reason": "Phoned to stop."}, **headers)  # fmt: skip
    assert done.status_code == 201
    assert done.json()["withdrawal"]["on_behalf"] is True


@pytest.mark.parametrize("path", ["/clients/{client}", "/mine"])
def test_list_queries_do_not_grow_with_signatures(client, world, path):
    sign(world.client, "kap")
    if path == "/mine":
        sign_in(client, world.client_member.user)
        headers = {}
    else:
        headers = _token(world.therapist)
    url = URL + path.format(client=world.client.pk)
    client.get(url, **headers)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, **headers).status_code == 200
    for kind in ("telehealth", "financial_policy", "release_of_information"):
        sign(world.client, kind)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url, **headers)
    assert len(response.json()["signatures"]) == 4
    assert len(few.captured_queries) == len(many.captured_queries)
