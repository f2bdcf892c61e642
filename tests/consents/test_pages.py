"""Consent pages: who sees what (404 for other practices and for parties without access),
signing and withdrawing from the portal, publishing, the staff summary on the course page,
audited reads, and query counts that do not grow with the number of signatures."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.consents.models import ConsentDocument, ConsentSignature, ConsentWithdrawal
from kapflow.core import clock
from tests.conftest import sign_in
from tests.consents.factories import current, publish, sign, withdraw
from tests.courses.factories import event, make_course

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


def _urls(world):
    document = current(world.practice, "kap")
    signature = sign(world.client, "kap")
    return {"doc": document.pk, "sig": signature.pk, "client": world.client.pk}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # admin, therapist, therapist2, biller, prescriber, client, companion, other admin,
        # other therapist
        ("/consents/documents/", [200, 200, 200, 200, 404, 404, 404, 200, 200]),
        ("/consents/documents/{doc}/", [200, 200, 200, 200, 404, 404, 404, 404, 404]),
        ("/consents/clients/{client}/", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/consents/signatures/{sig}/", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/consents/signatures/{sig}/withdraw/", [403, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/consents/mine/", [404, 404, 404, 404, 404, 200, 404, 404, 404]),
        ("/consents/mine/{doc}/sign/", [404, 404, 404, 404, 404, 200, 404, 404, 404]),
        ("/consents/mine/signed/{sig}/", [404, 404, 404, 404, 404, 200, 404, 404, 404]),
        ("/consents/mine/signed/{sig}/withdraw/", [404, 404, 404, 404, 404, 200, 404, 404, 404]),
        ("/api/v1/consents/documents", [200, 200, 200, 200, 404, 404, 404, 200, 200]),
        ("/api/v1/consents/documents/{doc}", [200, 200, 200, 200, 404, 404, 404, 404, 404]),
        ("/api/v1/consents/clients/{client}", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/api/v1/consents/signatures/{sig}", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/api/v1/consents/mine", [404, 404, 404, 404, 404, 200, 404, 404, 404]),
        ("/api/v1/consents/mine/documents/{doc}", [404, 404, 404, 404, 404, 200, 404, 404, 404]),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_consent_page_permissions(client, world, url, expected, role):
    ids = _urls(world)
    sign_in(client, getattr(world, role).user)
    response = client.get(url.format(**ids))
    assert response.status_code == dict(zip(ROLES, expected, strict=True))[role]


def test_another_practices_client_gets_404_for_this_practices_ids(client, world):
    from tests.accounts.factories import member
    from tests.patients.factories import ClientFactory

    theirs = ClientFactory(organisation=world.other)
    their_member = member(world.other, "client")
    theirs.user = their_member.user
    theirs.save()
    ids = _urls(world)
    sign_in(client, their_member.user)
    assert client.get("/consents/mine/").status_code == 200
    for url in ("/consents/mine/{doc}/sign/", "/consents/mine/signed/{sig}/",
                "/consents/mine/signed/{sig}/withdraw/"):  # fmt: skip
        assert client.get(url.format(**ids)).status_code == 404
    response = client.post(f"/consents/mine/{ids['doc']}/sign/", {"understood": "on"})
    assert response.status_code == 404


# ---- the client's portal --------------------------------------------------------------------


def _sign_form(world, **overrides):
    return {
        "understood": "on",
        "typed_name": f"{world.client.legal_first_name} {world.client.legal_last_name}",
        "signed_on": clock.clinical_date(world.practice).isoformat(),
        "drawn_signature": "",
    } | overrides


def test_client_reads_and_signs_without_javascript(client, world):
    document = current(world.practice, "kap")
    sign_in(client, world.client_member.user)
    mine = client.get("/consents/mine/").content.decode()
    assert f"/consents/mine/{document.pk}/sign/" in mine and "Not signed yet" in mine

    page = client.get(f"/consents/mine/{document.pk}/sign/").content.decode()
    assert document.body.split("\n")[0] in page
    assert "I have read and understood" in page
    # The drawing pad is hidden until signature.js shows it; the script is a file (CSP).
    assert re.search(r"<div class=\"field\" data-signature-pad hidden>", page)
    assert "kapflow/signature.js" in page and "<script>" not in page

    response = client.post(f"/consents/mine/{document.pk}/sign/", _sign_form(world))
    signature = ConsentSignature.objects.get(client=world.client)
    assert response.status_code == 302
    assert response.url == f"/consents/mine/signed/{signature.pk}/"
    assert signature.ip_address == "127.0.0.1" and signature.request_id

    signed = client.get(response.url).content.decode()
    assert "exactly the text you signed" in signed
    assert document.body.split("\n")[0] in signed
    mine = client.get("/consents/mine/").content.decode()
    assert "Signed on" in mine and f"/consents/mine/signed/{signature.pk}/" in mine


def test_sign_errors_are_shown_beside_the_fields(client, world):
    document = current(world.practice, "kap")
    sign_in(client, world.client_member.user)
    response = client.post(
        f"/consents/mine/{document.pk}/sign/",
        _sign_form(world, understood="", typed_name="Somebody Else",
                   drawn_signature="data:image/gif;base64,R0lGOD"),
    )  # fmt: skip
    assert response.status_code == 422
    page = response.content.decode()
    for field in ("understood", "typed_name", "drawn_signature"):
        assert f'id="id_{field}_error"' in page, field
    assert not ConsentSignature.objects.exists()


def test_an_earlier_version_shows_no_form_and_links_to_the_current_one(client, world):
    old = current(world.practice, "kap")
    new = publish(world.practice, "kap", published_at=timezone.now())
    sign_in(client, world.client_member.user)
    page = client.get(f"/consents/mine/{old.pk}/sign/").content.decode()
    assert 'data-testid="not-current"' in page and 'data-testid="sign-form"' not in page
    assert f"/consents/mine/{new.pk}/sign/" in page
    response = client.post(f"/consents/mine/{old.pk}/sign/", _sign_form(world))
    assert response.status_code == 422
    assert not ConsentSignature.objects.exists()


def test_outdated_consent_asks_to_sign_the_new_version(client, world):
    sign(world.client, "kap")
    new = publish(world.practice, "kap", published_at=timezone.now(), change_summary="Touch.")
    sign_in(client, world.client_member.user)
    page = client.get("/consents/mine/").content.decode()
    assert "A new version needs your signature" in page and "Touch." in page
    assert f"/consents/mine/{new.pk}/sign/" in page


def test_client_withdraws_after_a_plain_explanation(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active")  # fmt: skip
    signature = ConsentSignature.objects.get(client=world.client, document__kind="kap")
    sign_in(client, world.client_member.user)
    page = client.get(f"/consents/mine/signed/{signature.pk}/withdraw/").content.decode()
    assert "dosing stops until you consent again" in page
    response = client.post(f"/consents/mine/signed/{signature.pk}/withdraw/", {"reason": ""})
    assert response.status_code == 302 and response.url == "/consents/mine/"
    withdrawal = ConsentWithdrawal.objects.get(signature=signature)
    assert not withdrawal.on_behalf
    page = client.get("/consents/mine/").content.decode()
    assert "You withdrew your consent" in page and "Read and sign again" in page
    # The therapist's course page shows it, and the gate blocks.
    sign_in(client, world.therapist.user)
    course_page = client.get(f"/courses/{course.pk}/").content.decode()
    assert 'data-code="consent.withdrawn"' in course_page
    assert "withdrawn" in course_page.split('data-testid="consent-status"')[1][:200]


def test_client_list_queries_do_not_grow_with_signatures(client, world):
    sign(world.client, "kap")
    sign_in(client, world.client_member.user)
    client.get("/consents/mine/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/consents/mine/").status_code == 200
    for kind in ("telehealth", "financial_policy", "release_of_information"):
        withdraw(sign(world.client, kind))
    publish(world.practice, "kap", published_at=timezone.now())
    sign(world.client, "kap")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/consents/mine/").status_code == 200
    assert len(few.captured_queries) == len(many.captured_queries)


# ---- staff ----------------------------------------------------------------------------------


def test_admin_publishes_a_new_version_with_a_warning(client, world):
    current(world.practice, "kap")
    sign_in(client, world.admin.user)
    page = client.get("/consents/documents/").content.decode()
    assert "Every client must sign the new version" in page
    response = client.post(
        "/consents/documents/",
        {"kind": "kap", "title": "KAP consent", "body": "New text.", "change_summary": "Touch."},
    )
    assert response.status_code == 302
    latest = ConsentDocument.objects.filter(organisation=world.practice, kind="kap").latest(
        "version"
    )
    assert (latest.version, latest.body, latest.published_by) == (2, "New text.", world.admin.user)


def test_publish_errors_are_beside_the_fields_and_others_may_not_publish(client, world):
    sign_in(client, world.admin.user)
    response = client.post("/consents/documents/", {"kind": "kap", "title": "", "body": ""})
    assert response.status_code == 422
    assert 'id="id_title_error"' in response.content.decode()
    sign_in(client, world.therapist.user)
    page = client.get("/consents/documents/").content.decode()
    assert "Publish a new version" not in page
    response = client.post("/consents/documents/", {"kind": "kap", "title": "T", "body": "B"})
    assert response.status_code == 403
    assert not ConsentDocument.objects.exists()


def test_staff_reads_of_signatures_are_audited(client, world):
    signature = sign(world.client, "kap")
    sign(world.client, "financial_policy")
    sign_in(client, world.therapist.user)
    client.get(f"/consents/signatures/{signature.pk}/")
    assert AuditEvent.objects.filter(
        action="consent.view", target_id=signature.pk, client_id=world.client.pk,
        actor=world.therapist.user,
    ).count() == 1  # fmt: skip
    client.get(f"/consents/clients/{world.client.pk}/")
    assert AuditEvent.objects.filter(action="consent.view").count() == 3


def test_course_page_shows_the_consent_summary_and_audits_it(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active", delivery="at_home")  # fmt: skip
    publish(world.practice, "kap", published_at=timezone.now())
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    summary = page.split('data-testid="consent-summary"')[1]
    assert 'data-state="outdated"' in summary and 'data-state="signed"' in summary
    assert 'data-code="consent.outdated"' in page
    status = page.split('data-testid="consent-status"')[1][:400]
    assert "version 2 not signed" in status and "telehealth consent signed" in status
    assert AuditEvent.objects.filter(action="consent.view", client_id=world.client.pk).count() == 2


def test_clinician_withdraws_on_the_clients_behalf_with_a_reason(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active")  # fmt: skip
    event(course, world.therapist, "risk_screen", positive=False)
    signature = ConsentSignature.objects.get(client=world.client, document__kind="kap")
    sign_in(client, world.therapist.user)
    url = f"/consents/signatures/{signature.pk}/withdraw/"
    response = client.post(url, {"reason": ""})
    assert response.status_code == 422
    assert 'id="id_reason_error"' in response.content.decode()
    response = client.post(url, {"reason": "Told me in session they want to stop."})
    assert response.status_code == 302
    assert ConsentWithdrawal.objects.get(signature=signature).on_behalf
    page = client.get(f"/courses/{course.pk}/").content.decode()
    assert 'data-code="consent.withdrawn"' in page


def test_staff_consent_page_queries_do_not_grow_with_signatures(client, world):
    sign(world.client, "kap")
    sign_in(client, world.therapist.user)
    url = f"/consents/clients/{world.client.pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for kind in ("telehealth", "financial_policy", "release_of_information"):
        sign(world.client, kind, at=timezone.now() - datetime.timedelta(hours=1))
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(few.captured_queries) == len(many.captured_queries)
