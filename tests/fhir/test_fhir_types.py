"""The resource types added for issue 18's second half: what each carries (codes, links that
resolve), _include, the note's PDF as a Binary under the note page's policy, and the
instruments as Questionnaires their responses point to."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from kapflow.alerts.models import Alert
from kapflow.assessments.models import Response
from kapflow.audit.models import AuditEvent
from tests.fhir.test_fhir import CLINICAL, _get, _record, _token, _valid
from tests.notes.factories import signed
from tests.patients.factories import ClientFactory, on_team

BASE = "/fhir/R4/"


@pytest.fixture
def records(world):
    _record(world, world.client, world.therapist, world.prescriber)
    _record(world, world.unreferred, world.therapist)
    _record(world, world.other_client, world.other_therapist)
    return world


def _entries(bundle, mode="match"):
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def test_include_patient_adds_the_patients_once(client, records):
    token = _token(records.admin)
    bundle = _get(
        client, "MedicationAdministration", token, _include="MedicationAdministration:patient"
    ).json()
    _valid(bundle)
    doses = _entries(bundle)
    assert len(doses) == 2  # the session dose and the logged one
    included = _entries(bundle, "include")
    assert [p["id"] for p in included] == [str(records.client.pk)]
    assert all(p["resourceType"] == "Patient" for p in included)
    encounter = _get(client, "Encounter", token, _include="Encounter:patient").json()
    assert {p["id"] for p in _entries(encounter, "include")} == {
        str(records.client.pk),
        str(records.unreferred.pk),
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("Encounter", "Patient:patient"),
        ("Encounter", "Encounter:subject"),
        ("Practitioner", "Practitioner:patient"),
    ],
)
def test_include_refuses_what_it_cannot_do(client, records, path, value):
    response = _get(client, path, _token(records.admin), _include=value)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_include"]


def test_include_keeps_the_query_count_fixed(client, records):
    token = _token(records.admin)
    params = {"_include": "Encounter:patient"}
    _get(client, "Encounter", token, _count=1, **params)
    with CaptureQueriesContext(connection) as one:
        _get(client, "Encounter", token, _count=1, **params)
    for _ in range(3):
        more = ClientFactory(organisation=records.practice)
        on_team(more, records.therapist)
        _record(records, more, records.therapist)
    with CaptureQueriesContext(connection) as many:
        page = _get(client, "Encounter", token, _count=50, **params).json()
    assert len(_entries(page, "include")) == 5
    assert len(many) == len(one)


def test_document_reference_points_to_the_note_pdf(client, records):
    token = _token(records.therapist)
    bundle = _get(client, "DocumentReference", token, patient=records.client.pk).json()
    (document,) = _entries(bundle)
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    before = AuditEvent.objects.filter(action="note.export").count()
    pdf = client.get(BASE + attachment["url"], headers={"Authorization": f"Bearer {token}"})
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="note.export").count() == before + 1
    as_json = client.get(
        BASE + attachment["url"],
        headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
    )
    binary = _valid(as_json.json())
    assert binary.contentType == "application/pdf"
    # Off the care team: the same "not found" as the note's page gives.
    other = client.get(
        BASE + attachment["url"],
        headers={"Authorization": f"Bearer {_token(records.therapist2)}"},
    )
    assert other.status_code == 404
    assert other.json()["resourceType"] == "OperationOutcome"
    assert _get(client, "Binary", token).status_code == 400
    assert _get(client, "Binary/nope", token).status_code == 404


def test_questionnaires_and_their_responses(client, records):
    token = _token(records.therapist)
    questionnaires = _get(client, "Questionnaire", token).json()
    codes = [q["id"] for q in _entries(questionnaires)]
    assert "phq9" in codes and len(codes) == 5
    phq9 = _valid(_get(client, "Questionnaire/phq9", token).json())
    assert phq9.code[0].code == "44249-1"
    assert _get(client, "Questionnaire/nope", token).status_code == 404
    (answers,) = _entries(
        _get(client, "QuestionnaireResponse", token, patient=records.client.pk).json()
    )
    assert answers["questionnaire"] == phq9.url
    first = answers["item"][0]
    assert first["linkId"] == "phq9_1"
    assert first["answer"][0]["valueCoding"] == {"code": "1", "display": "Several days"}


def test_condition_is_icd10cm_and_us_core(client, records):
    token = _token(records.biller)
    (condition,) = _entries(_get(client, "Condition", token, patient=records.client.pk).json())
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "F33.1",
        "display": "Major depressive disorder, recurrent, moderate",
    }
    assert condition["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns"
    ]
    # The profile's required elements, every one present.
    assert condition["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert condition["subject"] == {"reference": f"Patient/{records.client.pk}"}


def test_every_reference_resolves(client, records):
    """Each reference in the new types reads back as a resource the same actor may see."""
    token = _token(records.admin)
    checked = 0
    for kind in ("Provenance", "MedicationDispense", "MedicationAdministration", "CareTeam",
                 "Encounter", "Flag", "DocumentReference"):  # fmt: skip
        for resource in _entries(_get(client, kind, token, patient=records.client.pk).json()):
            refs = []
            for value in resource.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict) and "reference" in item:
                        refs.append(item["reference"])
            refs += [p["member"]["reference"] for p in resource.get("participant", [])]
            refs += [a["who"]["reference"] for a in resource.get("agent", [])]
            for ref in refs:
                response = _get(client, ref, token)
                assert response.status_code == 200, (kind, ref)
                checked += 1
    assert checked > 20


def test_provenance_names_who_signed_and_decided(client, records):
    token = _token(records.therapist)
    bundle = _get(client, "Provenance", token, patient=records.client.pk).json()
    by_prefix = {r["id"].split("-")[0]: r for r in _entries(bundle)}
    assert set(by_prefix) == {"note", "decision", "consent"}
    assert by_prefix["decision"]["agent"][0]["who"] == {
        "reference": f"Practitioner/{records.prescriber.pk}"
    }
    assert by_prefix["note"]["agent"][0]["who"] == {
        "reference": f"Practitioner/{records.therapist.pk}"
    }
    assert by_prefix["consent"]["agent"][0]["who"] == {"reference": f"Patient/{records.client.pk}"}
    for resource in by_prefix.values():
        again = _get(client, f"Provenance/{resource['id']}", token).json()
        assert again == resource


def test_everything_holds_every_patient_type(client, records):
    token = _token(records.admin)
    bundle = _get(client, f"Patient/{records.client.pk}/$everything", token).json()
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == {"Patient", "Condition", *CLINICAL}
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def test_everything_runs_the_same_queries_for_a_small_and_a_large_record(client, records):
    token = _token(records.admin)
    path = f"Patient/{records.client.pk}/$everything"
    _get(client, path, token)
    with CaptureQueriesContext(connection) as small:
        before = len(_get(client, path, token).json()["entry"])
    for _ in range(3):  # more alerts, questionnaires and signed notes
        Alert.objects.create(
            organisation=records.practice, client=records.client, kind="reaction",
            raised_by=records.therapist.user, raised_by_role="client", severity="routine",
        )  # fmt: skip
        Response.objects.create(
            organisation=records.practice, client=records.client, instrument="gad7",
            source="staff", answers={}, total=3, band="Minimal", submitted_at=timezone.now(),
            entered_by=records.therapist.user,
        )  # fmt: skip
        signed(records.client, records.therapist, session_type="dosing")
    with CaptureQueriesContext(connection) as large:
        after = len(_get(client, path, token).json()["entry"])
    assert after > before
    assert len(large) == len(small)


def test_practitioner_role_and_the_licences_as_qualifications(client, records):
    token = _token(records.admin)
    practitioner = _get(client, f"Practitioner/{records.prescriber.pk}", token).json()
    _valid(practitioner)
    (licence,) = practitioner["qualification"]
    assert licence["code"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0360",
        "code": "NP",
        "display": "Nurse Practitioner",
    }
    assert licence["code"]["coding"][1]["system"] == "urn:kapflow:licence-type"
    assert licence["identifier"][0]["value"]
    assert licence["issuer"] == {"display": "OR state licensing board"}
    therapist = _get(client, f"Practitioner/{records.therapist.pk}", token).json()
    # LMFT is not in HL7's degree table: kapflow's own code only.
    assert [c["code"] for c in therapist["qualification"][0]["code"]["coding"]] == ["LMFT"]
    assert "qualification" not in _get(client, f"Practitioner/{records.admin.pk}", token).json()

    role = _valid(_get(client, f"PractitionerRole/{records.prescriber.pk}", token).json())
    assert role.practitioner.reference == f"Practitioner/{records.prescriber.pk}"
    assert role.organization.reference == f"Organization/{records.partner.pk}"
    assert [c.coding[0].code for c in role.code] == ["prescriber"]
    assert _get(client, role.organization.reference, token).status_code == 200

    by_practitioner = _get(
        client, "PractitionerRole", token, practitioner=f"Practitioner/{records.therapist.pk}"
    ).json()
    assert [r["id"] for r in _entries(by_practitioner)] == [str(records.therapist.pk)]
    by_organisation = _get(client, "PractitionerRole", token, organization=records.practice.pk)
    ids = {r["id"] for r in _entries(by_organisation.json())}
    assert ids == {
        str(m.pk) for m in (records.admin, records.therapist, records.therapist2, records.biller)
    }
    statement = client.get(BASE + "metadata").json()
    (served,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "PractitionerRole"]
    assert {p["name"] for p in served["searchParam"]} >= {"practitioner", "organization"}


def test_practitioner_role_reads_are_audited(client, records):
    token = _token(records.therapist)
    before = AuditEvent.objects.count()
    _get(client, f"PractitionerRole/{records.therapist2.pk}", token)
    _get(client, "PractitionerRole", token, practitioner=records.prescriber.pk)
    actions = list(AuditEvent.objects.order_by("id")[before:].values_list("action", flat=True))
    assert actions == ["fhir.read", "fhir.search"]


def _referral(records):
    from kapflow.prescriptions.models import Referral

    return Referral.objects.get(client=records.client)


def test_the_referral_diagnoses_are_conditions_the_prescriber_sees(client, records):
    referral = _referral(records)
    referral.diagnoses = [
        {"code": "F33.1", "description": "Major depressive disorder, recurrent, moderate"},
        {"code": "F41.1", "description": "Generalized anxiety disorder"},
        {"code": "F43.10", "description": "Post-traumatic stress disorder, unspecified"},
    ]
    referral.save()
    token = _token(records.prescriber)
    found = _entries(_get(client, "Condition", token, patient=records.client.pk).json())
    assert [c["id"] for c in found] == [
        f"referral-{referral.pk}-F33.1",
        f"referral-{referral.pk}-F41.1",
        f"referral-{referral.pk}-F43.10",
    ]
    for condition in found:
        _valid(condition)
        assert condition["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
        assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
        assert condition["category"][0]["coding"][0]["code"] == "problem-list-item"
        assert condition["subject"] == {"reference": f"Patient/{records.client.pk}"}
        assert condition["meta"]["profile"] == [
            "http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns"
        ]
        assert _get(client, f"Condition/{condition['id']}", token).json() == condition
    # A code the referral does not name, or a referral out of reach, is not found.
    assert _get(client, f"Condition/referral-{referral.pk}-F99", token).status_code == 404
    assert _get(client, f"Condition/referral-{referral.pk}", token).status_code == 404
    other = _token(records.therapist2)
    assert _get(client, f"Condition/{found[0]['id']}", other).status_code == 404

    # One per page: the pages end inside the referral and still serve each Condition once.
    admin = _token(records.admin)
    seen, url = [], BASE + f"Condition?patient={records.client.pk}&_count=1"
    while url:
        page = client.get(url, headers={"Authorization": f"Bearer {admin}"}).json()
        assert len(page["entry"]) == 1
        seen.append(page["entry"][0]["resource"]["id"])
        url = {link["relation"]: link["url"] for link in page["link"]}.get("next")
    billing = [i for i in seen if not i.startswith("referral-")]
    assert len(billing) == 1 and seen[1:] == [c["id"] for c in found]


def test_a_withdrawn_or_declined_referral_claims_no_status_and_no_profile(client, records):
    referral = _referral(records)
    referral.status = "withdrawn"
    referral.save()
    # The prescriber no longer sees what a withdrawn referral shared, as on its page.
    prescriber = _token(records.prescriber)
    assert "entry" not in _get(client, "Condition", prescriber, patient=records.client.pk).json()
    therapist = _token(records.therapist)
    (condition,) = _entries(_get(client, "Condition", therapist, patient=records.client.pk).json())
    _valid(condition)
    assert "clinicalStatus" not in condition and "meta" not in condition
    referral.status = "declined"
    referral.save()
    (condition,) = _entries(_get(client, "Condition", prescriber, patient=records.client.pk).json())
    assert "clinicalStatus" not in condition and "meta" not in condition


def test_referral_conditions_are_in_the_bulk_export(client, records, settings, tmp_path):
    from kapflow.fhir import export
    from kapflow.fhir.models import BulkExport

    settings.MEDIA_ROOT = tmp_path
    job = BulkExport.objects.create(
        organisation=records.prescriber.organisation, requested_by=records.prescriber,
        token="t-referral", level="patient", types=["Condition"], request_url="test",
    )  # fmt: skip
    assert export.export_run(export_id=job.pk)["resources"] == 1
    line = (export.export_dir(job) / "Condition.ndjson").read_text().strip()
    assert line.startswith('{"resourceType":"Condition","id":"referral-')


def test_group_is_a_caseload_with_the_members_the_reader_may_see(client, records):
    admin = _token(records.admin)
    group = _valid(_get(client, f"Group/{records.therapist.pk}", admin).json())
    assert group.type == "person" and group.actual is True
    assert group.managingEntity.reference == f"Practitioner/{records.therapist.pk}"
    members = [m.entity.reference for m in group.member]
    assert members == [f"Patient/{records.client.pk}", f"Patient/{records.unreferred.pk}"]
    assert group.quantity == 2
    # A partner prescriber sees the referred client only, as everywhere else.
    prescriber = _token(records.prescriber)
    before = AuditEvent.objects.count()
    seen = _get(client, f"Group/{records.therapist.pk}", prescriber).json()
    assert [m["entity"]["reference"] for m in seen["member"]] == [f"Patient/{records.client.pk}"]
    # The read is audited, and so is each client the Group names.
    rows = list(AuditEvent.objects.order_by("id")[before:].values_list("action", "client_id"))
    assert rows == [("fhir.read", None), ("fhir.read", records.client.pk)]
    # An empty caseload is a Group with no members.
    empty = _get(client, f"Group/{records.therapist2.pk}", admin).json()
    assert empty["quantity"] == 0 and "member" not in empty
    found = _get(client, "Group", admin, **{"managing-entity": records.prescriber.pk}).json()
    assert [g["id"] for g in _entries(found)] == [str(records.prescriber.pk)]
    statement = client.get(BASE + "metadata").json()
    (served,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Group"]
    assert [i["code"] for i in served["interaction"]] == ["read", "search-type"]
    assert served["operation"][0]["name"] == "export"
