"""Clients nobody here wrote read and search the live server: the SMART Python `fhirclient`
(its own strict R4 models parse every answer) and the npm `fhir-kit-client` run by node."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fhir.test_fhir import _record, _token

SCRIPT = Path(__file__).parent / "clients" / "fhir_kit_client.mjs"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def records(world):
    _record(world, world.client, world.therapist, world.prescriber)
    _record(world, world.unreferred, world.therapist)
    _record(world, world.other_client, world.other_therapist)
    return world


def test_fhirclient_reads_and_pages(live_server, records):
    from fhirclient import client as smart_client
    from fhirclient.models.encounter import Encounter
    from fhirclient.models.medicationrequest import MedicationRequest
    from fhirclient.models.patient import Patient
    from fhirclient.models.provenance import Provenance

    smart = smart_client.FHIRClient(
        settings={"app_id": "kapflow-suite", "api_base": f"{live_server.url}/fhir/R4/"}
    )
    smart.server.session.headers["Authorization"] = f"Bearer {_token(records.admin)}"
    smart.prepare()  # reads and parses the CapabilityStatement
    assert smart.server.capabilityStatement.fhirVersion == "4.0.1"
    server = smart.server

    patient = Patient.read(str(records.client.pk), server)
    assert patient.birthDate.isostring == records.client.date_of_birth.isoformat()
    # One per page: the client follows the next links to the end.
    pages = list(Patient.where(struct={"_count": "1"}).perform_iter(server))
    assert len(pages) == 2
    ids = {entry.resource.id for page in pages for entry in page.entry}
    assert ids == {str(records.client.pk), str(records.unreferred.pk)}

    search = MedicationRequest.where(struct={"patient": str(records.client.pk)})
    medicines = list(search.perform_resources_iter(server))
    assert medicines and all(
        m.subject.reference == f"Patient/{records.client.pk}" for m in medicines
    )
    encounters = list(
        Encounter.where(struct={"patient": str(records.client.pk)}).perform_resources_iter(server)
    )
    assert [e.status for e in encounters] == ["arrived"]
    provenance = list(
        Provenance.where(struct={"patient": str(records.client.pk)}).perform_resources_iter(server)
    )
    assert {p.id.split("-")[0] for p in provenance} == {"note", "decision", "consent"}


def test_fhir_kit_client_reads_and_pages(live_server, records):
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "fhir-kit-client").is_dir():
        pytest.fail("node and `npm ci` (fhir-kit-client) are needed for this test")
    result = subprocess.run(
        [node, str(SCRIPT), f"{live_server.url}/fhir/R4", _token(records.admin),
         str(records.client.pk)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["fhirVersion"] == "4.0.1"
    assert {"Encounter", "Provenance", "Condition", "Questionnaire"} <= set(found["types"])
    assert found["patient"] == str(records.client.pk)
    assert sorted(found["pagedIds"]) == sorted([str(records.client.pk), str(records.unreferred.pk)])
    assert found["encounterModes"] == ["match", "include"]
    assert found["everything"] > 10
    assert found["missing"] == {"status": 404, "type": "OperationOutcome"}
