"""Issue 18: the client downloads their own record as a FHIR Bundle from the portal; the file
validates, holds only their record, is audited with its digest and is listed in their
accounting of disclosures. Nobody else reaches it.
"""

import hashlib

import pytest
from fhir.resources.R4B.bundle import Bundle

from kapflow.audit.accounting import client_accounting
from kapflow.audit.models import AuditEvent
from tests.conftest import sign_in
from tests.fhir.test_fhir import _record
from tests.pdftext import SCRIPTS, pdf_readable, readable

URL = "/me/record/fhir.json"


@pytest.fixture
def records(world):
    _record(world, world.client, world.therapist, world.prescriber)
    _record(world, world.unreferred, world.therapist)
    return world


def test_the_client_downloads_their_record_as_a_valid_bundle(client, records):
    sign_in(client, records.client_member.user)
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response["Content-Disposition"].startswith("attachment;")
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "collection"
    data = response.json()
    kinds = {e["resource"]["resourceType"] for e in data["entry"]}
    assert kinds >= {"Patient", "Organization", "EpisodeOfCare", "Observation", "Consent"}
    patients = [
        e["resource"]["id"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert patients == [str(records.client.pk)]
    for entry in data["entry"]:
        resource = entry["resource"]
        ref = resource.get("subject", resource.get("patient"))
        if ref is not None:
            assert ref == {"reference": f"Patient/{records.client.pk}"}


def test_the_download_is_audited_and_listed_as_a_disclosure(client, records):
    sign_in(client, records.client_member.user)
    body = client.get(URL).content
    event = AuditEvent.objects.get(action="fhir.record_download")
    assert event.client_id == records.client.pk
    assert event.content_digest == hashlib.sha256(body).hexdigest()
    accounting = client_accounting(client=records.client, zone_name="America/Los_Angeles")
    [line] = [line for line in accounting.lines if "FHIR" in line.what]
    assert line.recipient == "You, downloaded in the portal"


@pytest.mark.parametrize("role", ["admin", "therapist", "biller", "prescriber", "companion"])
def test_nobody_else_downloads_a_record_there(client, records, role):
    sign_in(client, getattr(records, role).user)
    assert client.get(URL).status_code == 404
    assert not AuditEvent.objects.filter(action="fhir.record_download").exists()


def test_anonymous_is_sent_to_sign_in(client, records):
    response = client.get(URL)
    assert response.status_code == 302


PDF_URL = "/me/record/record.pdf"


def test_the_client_downloads_a_readable_pdf_audited_and_listed(client, records):
    sign_in(client, records.client_member.user)
    response = client.get(PDF_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_readable(response.content)
    assert records.client.legal_last_name in text
    assert "Questionnaire scores and vital signs" in text
    assert "(44261-6): 7" in text
    event = AuditEvent.objects.get(action="fhir.record_pdf")
    assert event.content_digest == hashlib.sha256(response.content).hexdigest()
    accounting = client_accounting(client=records.client, zone_name="America/Los_Angeles")
    assert any(line.what == "Your whole record as a PDF" for line in accounting.lines)


@pytest.mark.parametrize("role", ["admin", "therapist", "companion"])
def test_nobody_else_downloads_the_pdf(client, records, role):
    sign_in(client, getattr(records, role).user)
    assert client.get(PDF_URL).status_code == 404


def test_every_script_renders_in_the_pdf():
    from kapflow.fhir.pdf import render_record

    everything = "\n".join(SCRIPTS.values())
    resources = [
        {
            "resourceType": "Patient",
            "id": "1",
            "name": [
                {"family": SCRIPTS["Arabic"], "given": [SCRIPTS["issue 12"]]},
                {"use": "usual", "given": [SCRIPTS["Cyrillic"]]},
            ],
            "birthDate": "1990-01-31",
        },
        {"resourceType": "Organization", "id": "1", "name": SCRIPTS["Greek"]},
        {
            "resourceType": "Consent",
            "id": "1",
            "status": "active",
            "dateTime": "2026-01-31T10:00:00+00:00",
            "category": [{"text": "Consent"}],
            "policyRule": {"text": everything},
        },
    ]
    text = pdf_readable(render_record(resources, compress=False))
    for script, sample in SCRIPTS.items():
        assert readable(sample) in text, script
    assert "?" not in text and "\ufffd" not in text


def test_the_pdf_lists_every_kind_of_record_the_download_holds(client, records):
    """Each kind in the FHIR download has its section in the PDF (none is dropped), and each
    section present in this record lists rows, not "None recorded."."""
    from kapflow.fhir.pdf import NOT_LISTED, SECTIONS

    sign_in(client, records.client_member.user)
    kinds = {e["resource"]["resourceType"] for e in client.get(URL).json()["entry"]}
    assert kinds - NOT_LISTED <= {kind for kind, _ in SECTIONS}
    assert len(kinds - NOT_LISTED) >= 8  # the fixture's record holds most kinds
    text = readable(pdf_readable(client.get(PDF_URL).content))
    for kind, heading in SECTIONS:
        assert heading in text
        if kind in kinds:
            after = text.split(heading, 1)[1].lstrip()
            assert not after.startswith("None recorded."), heading
