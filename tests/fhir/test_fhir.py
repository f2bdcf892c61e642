"""Issue 18: the FHIR R4 API at /fhir/R4. Every resource served validates with fhir.resources
(the R4B models), search pages with links and a fixed query count, every read is audited, and
the policy is the pages' policy: a partner prescriber sees the referred client only, a therapist
off the care team nothing, a biller demographics only, clients and companions nothing.
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from kapflow.accounts import services as accounts
from kapflow.accounts.models import ApiTokenScope
from kapflow.alerts.models import Alert
from kapflow.assessments.models import Response
from kapflow.audit.models import AuditEvent
from kapflow.billing.models import Diagnosis
from kapflow.encounters.models import DosingSession, TimelineEntry
from kapflow.prescriptions.models import DoseUse
from kapflow.scheduling.models import Appointment, AppointmentParticipant
from tests.conftest import sign_in
from tests.consents.factories import sign
from tests.courses.factories import make_course
from tests.notes.factories import signed
from tests.patients.factories import ClientFactory, on_team
from tests.prescriptions.factories import decide, dose_logged, evaluate, prescribe, refer

BASE = "/fhir/R4/"
TYPES = [
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "EpisodeOfCare",
    "Observation",
    "MedicationRequest",
    "Consent",
    "Appointment",
    "Condition",
    "Encounter",
    "QuestionnaireResponse",
    "CareTeam",
    "Flag",
    "DocumentReference",
    "Provenance",
    "MedicationDispense",
    "MedicationAdministration",
    "Group",
]
CLINICAL = [
    "EpisodeOfCare", "Observation", "MedicationRequest", "Consent", "Appointment", "Encounter",
    "QuestionnaireResponse", "CareTeam", "Flag", "DocumentReference", "Provenance",
    "MedicationDispense", "MedicationAdministration",
]  # fmt: skip
SERVED = [*TYPES, "Questionnaire", "Binary"]


def _record(world, client, therapist, prescriber=None):
    """One of each clinical resource for `client`."""
    now = timezone.now()
    course = make_course(client, therapist, prescriber=prescriber, stage="active")
    if prescriber is not None:
        prescription = prescribe(course, doses=1, quantity=1)
        referral = refer(course, prescriber, share_scores=True)
        decide(evaluate(course, prescriber, referral=referral))
        DoseUse.objects.create(
            organisation=client.organisation, course=course, prescription=prescription,
            source="session", taken_on=now.date(), amount_mg=200, recorded_by=therapist.user,
        )  # fmt: skip
        dose_logged(course, now.date(), prescription)
    Response.objects.create(
        organisation=client.organisation, client=client, course=course, instrument="phq9",
        source="staff", answers={"phq9_1": 1, "phq9_2": 2}, total=7, band="Mild", submitted_at=now,
        entered_by=therapist.user,
    )  # fmt: skip
    sign(client, "kap")
    Diagnosis.objects.create(
        organisation=client.organisation, client=client, code="F33.1",
        description="Major depressive disorder, recurrent, moderate", added_by=therapist.user,
    )  # fmt: skip
    Alert.objects.create(
        organisation=client.organisation, client=client, course=course, kind="reaction",
        raised_by=therapist.user, raised_by_role="client", severity="routine",
    )  # fmt: skip
    signed(client, therapist, session_type="dosing")
    session = DosingSession.objects.create(
        organisation=client.organisation, course=course, client=client, delivery="in_person",
        opened_by=therapist.user,
    )  # fmt: skip
    TimelineEntry.objects.create(
        organisation=client.organisation, session=session, kind="vitals", occurred_at=now,
        recorded_by=therapist.user,
        data={"bp_systolic": 128, "bp_diastolic": 82, "heart_rate": 71, "phase": "pre_dose"},
    )  # fmt: skip
    appointment = Appointment.objects.create(
        organisation=client.organisation, kind="therapy", course=course, starts_at=now,
        ends_at=now + datetime.timedelta(hours=1), time_zone="America/Los_Angeles",
        created_by=therapist.user,
    )  # fmt: skip
    AppointmentParticipant.objects.create(
        organisation=client.organisation, appointment=appointment, role="client", client=client,
        course=course, starts_at=appointment.starts_at, ends_at=appointment.ends_at,
    )  # fmt: skip
    AppointmentParticipant.objects.create(
        organisation=client.organisation, appointment=appointment, role="therapist",
        membership=therapist, starts_at=appointment.starts_at, ends_at=appointment.ends_at,
    )  # fmt: skip
    return course


@pytest.fixture
def records(world):
    _record(world, world.client, world.therapist, world.prescriber)
    _record(world, world.unreferred, world.therapist)
    _record(world, world.other_client, world.other_therapist)
    return world


def _token(membership, scope=ApiTokenScope.READ) -> str:
    _, secret = accounts.api_token_create(
        actor=membership, name="fhir", mfa_verified=True, scope=scope
    )
    return secret


def _get(client, path, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(BASE + path, params, headers=headers)


def _valid(data: dict):
    """The resource parses as its fhir.resources R4B model (raises on any invalid element)."""
    model = get_fhir_model_class(data["resourceType"])
    return model.model_validate(data)


def test_metadata_lists_only_what_is_served(client, db):
    response = client.get(BASE + "metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    statement = response.json()
    _valid(statement)
    served = [r["type"] for r in statement["rest"][0]["resource"]]
    assert served == SERVED


@pytest.mark.parametrize("resource_type", TYPES)
def test_every_served_resource_validates(client, records, resource_type):
    token = _token(records.admin)
    bundle = _get(client, resource_type, token).json()
    _valid(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["entry"], resource_type
    for entry in bundle["entry"]:
        resource = entry["resource"]
        _valid(resource)
        one = _get(client, f"{resource_type}/{resource['id']}", token)
        assert one.status_code == 200
        assert one.json() == resource


def test_observation_and_medication_request_carry_their_codes(client, records):
    token = _token(records.admin)
    observation = _get(client, "Observation", token, patient=records.client.pk).json()
    total, vitals = (e["resource"] for e in observation["entry"])
    assert total["code"]["coding"] == [{"system": "http://loinc.org", "code": "44261-6"}]
    assert total["valueInteger"] == 7
    assert total["category"][0]["coding"][0]["code"] == "survey"
    assert vitals["id"].startswith("vit-")
    assert vitals["category"][0]["coding"][0]["code"] == "vital-signs"
    codes = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in vitals["component"]}
    assert codes["8480-6"]["value"] == 128 and codes["8480-6"]["code"] == "mm[Hg]"
    assert codes["8462-4"]["value"] == 82
    assert codes["8867-4"] == {
        "value": 71,
        "unit": "beats/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    meds = _get(client, "MedicationRequest", token, patient=f"Patient/{records.client.pk}").json()
    assert meds["entry"]
    for entry in meds["entry"]:
        assert entry["resource"]["subject"] == {"reference": f"Patient/{records.client.pk}"}
        for coding in entry["resource"]["medicationCodeableConcept"].get("coding", []):
            assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_observation_pages_run_across_totals_and_vital_signs(client, records):
    token = _token(records.admin)
    seen = []
    url = BASE + "Observation?_count=1"
    while url:
        page = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        assert len(page["entry"]) == 1
        seen.append(page["entry"][0]["resource"]["id"])
        url = {link["relation"]: link["url"] for link in page["link"]}.get("next")
    assert len(set(seen)) == 4  # two totals, then two vital-signs panels
    assert [i.split("-")[0] for i in seen] == ["resp", "resp", "vit", "vit"]


def test_search_pages_with_self_and_next_links(client, records):
    token = _token(records.admin)
    first = _get(client, "Patient", token, _count=1).json()
    assert len(first["entry"]) == 1
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "_count=1" in links["self"]
    seen = [first["entry"][0]["resource"]["id"]]
    url = links.get("next")
    while url:
        page = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = {link["relation"]: link["url"] for link in page["link"]}.get("next")
    assert sorted(seen, key=int) == sorted(
        [str(records.client.pk), str(records.unreferred.pk)], key=int
    )


@pytest.mark.parametrize("resource_type", TYPES)
def test_a_page_runs_the_same_queries_for_one_row_and_many(client, records, resource_type):
    token = _token(records.admin)
    _get(client, resource_type, token, _count=1)  # warm-up: token last-used write
    with CaptureQueriesContext(connection) as one:
        _get(client, resource_type, token, _count=1)
    for _ in range(3):
        more = ClientFactory(organisation=records.practice)
        on_team(more, records.therapist)
        _record(records, more, records.therapist)
    with CaptureQueriesContext(connection) as many:
        page = _get(client, resource_type, token, _count=50).json()
    assert len(page["entry"]) >= 1
    assert len(many) == len(one), resource_type


def test_last_updated_filters(client, records):
    token = _token(records.admin)
    later = (timezone.now() + datetime.timedelta(days=1)).date().isoformat()
    assert "entry" not in _get(client, "Patient", token, _lastUpdated=f"gt{later}").json() or (
        _get(client, "Patient", token, _lastUpdated=f"gt{later}").json()["entry"] == []
    )
    assert len(_get(client, "Patient", token, _lastUpdated=f"lt{later}").json()["entry"]) == 2


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("Patient", {"_count": "0"}, "_count"),
        ("Patient", {"_count": "many"}, "_count"),
        ("Patient", {"_offset": "-1"}, "_offset"),
        ("Patient", {"name": "x"}, "name"),
        ("Observation", {"patient": "Group/1"}, "patient"),
        ("Practitioner", {"patient": "1"}, "patient"),
        ("PractitionerRole", {"patient": "1"}, "patient"),
        ("PractitionerRole", {"practitioner": "Patient/1"}, "practitioner"),
        ("PractitionerRole", {"organization": "abc"}, "organization"),
        ("Practitioner", {"organization": "1"}, "organization"),
        ("Patient", {"_lastUpdated": "2026-01-01"}, "_lastUpdated"),
        ("Patient", {"_lastUpdated": "gtnot-a-date"}, "_lastUpdated"),
        ("MedicationRequest", {"_lastUpdated": "gt2026-01-01"}, "_lastUpdated"),
        ("Patient", {"_lastUpdated": "gt2026-13-45"}, "_lastUpdated"),
    ],
)
def test_bad_input_is_an_operation_outcome_naming_the_parameter(
    client, records, path, params, parameter
):
    response = _get(client, path, _token(records.admin), **params)
    assert response.status_code == 400
    body = response.json()
    _valid(body)
    assert body["issue"][0]["expression"] == [parameter]


@pytest.mark.parametrize(
    "path", ["Nope", "Nope/1", "Patient/abc", "Patient/1/2/3", "Observation/7"]
)
def test_unknown_is_a_404_operation_outcome(client, records, path):
    response = _get(client, path, _token(records.admin))
    assert response.status_code == 404
    assert _valid(response.json()).issue[0].code == "not-found"


def test_anonymous_and_bad_tokens_are_401(client, records):
    for response in (_get(client, "Patient"), _get(client, "Patient", "nope")):
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
    bad_scheme = client.get(BASE + "Patient", headers={"Authorization": "Basic eDp5"})
    assert bad_scheme.status_code == 401


def test_writes_are_refused(client, records):
    response = client.post(
        BASE + "Patient", {}, headers={"Authorization": f"Bearer {_token(records.admin)}"}
    )
    assert response.status_code == 405


def test_reads_and_searches_are_audited(client, records):
    token = _token(records.therapist)
    before = AuditEvent.objects.count()
    _get(client, f"Patient/{records.client.pk}", token)
    _get(client, "Observation", token, patient=records.client.pk)
    rows = list(AuditEvent.objects.order_by("id")[before:])
    assert [(r.action, r.client_id) for r in rows] == [
        ("fhir.read", records.client.pk),
        ("fhir.search", records.client.pk),  # the PHQ-9 total
        ("fhir.search", records.client.pk),  # the vital-signs panel
    ]


def test_everything_holds_what_the_actor_may_see(client, records):
    token = _token(records.therapist)
    response = _get(client, f"Patient/{records.client.pk}/$everything", token)
    assert response.status_code == 200
    bundle = response.json()
    _valid(bundle)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    # Condition: the referral's diagnoses (the billing ones are the billers' and admins').
    assert kinds == {"Patient", "Condition", *CLINICAL}
    patients = {
        e["resource"].get("subject", e["resource"].get("patient", {})).get("reference")
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in ("Observation", "MedicationRequest", "Consent")
    }
    assert patients == {f"Patient/{records.client.pk}"}
    assert AuditEvent.objects.filter(action="fhir.everything").exists()


def test_session_sign_in_works_too(client, records):
    sign_in(client, records.admin.user)
    response = _get(client, "Patient")
    assert response.status_code == 200
    bundle = response.json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    assert bundle["entry"] and {e["resource"]["resourceType"] for e in bundle["entry"]} == {
        "Patient"
    }


# ---- permission matrix: FHIR endpoints x roles -----------------------------------------------

ROLES = [
    "admin", "therapist", "therapist2", "biller", "prescriber", "client_member", "companion",
    "other_admin",
]  # fmt: skip


def _row(*codes):
    return dict(zip(ROLES, codes, strict=True))


# target: "client" = referred to the partner prescriber; "unreferred"; "other_client" = practice B.
MATRIX = [
    ("Patient/{id}", "client", _row(200, 200, 404, 200, 200, 403, 403, 404)),
    ("Patient/{id}", "unreferred", _row(200, 200, 404, 200, 404, 403, 403, 404)),
    ("Patient/{id}", "other_client", _row(404, 404, 404, 404, 404, 403, 403, 200)),
    ("Patient/{id}/$everything", "client", _row(200, 200, 404, 200, 200, 403, 403, 404)),
    ("Patient/{id}/$everything", "unreferred", _row(200, 200, 404, 200, 404, 403, 403, 404)),
    ("EpisodeOfCare?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("EpisodeOfCare?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("Observation?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Observation?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("MedicationRequest?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Consent?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Consent?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("Appointment?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Appointment?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("Patient?patient={id}", "other_client", _row(0, 0, 0, 0, 0, 403, 403, 1)),
    # Billing diagnoses: the billing pages' rule (the practice's billers and admins); the
    # referral's diagnoses: whoever sees the referral (its clinicians, admins, the prescriber).
    ("Condition?patient={id}", "client", _row(1, 1, 0, 1, 1, 403, 403, 0)),
    ("Condition?patient={id}", "other_client", _row(0, 0, 0, 0, 0, 403, 403, 1)),
    ("Encounter?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Encounter?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("QuestionnaireResponse?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("QuestionnaireResponse?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    # The care team is who looks after the client: everyone who sees the client's page.
    ("CareTeam?patient={id}", "client", _row(1, 1, 0, 1, 1, 403, 403, 0)),
    ("CareTeam?patient={id}", "unreferred", _row(1, 1, 0, 1, 0, 403, 403, 0)),
    ("Flag?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Flag?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    # A signed dosing note: a partner prescriber on the team reads medical sessions' notes.
    ("DocumentReference?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("DocumentReference?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("Provenance?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("Provenance?patient={id}", "unreferred", _row(1, 1, 0, 0, 0, 403, 403, 0)),
    ("MedicationDispense?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("MedicationAdministration?patient={id}", "client", _row(1, 1, 0, 0, 1, 403, 403, 0)),
    ("CareTeam/{id}", "client", _row(200, 200, 404, 200, 200, 403, 403, 404)),
    # PractitionerRole: the Practitioner's policy (own organisation, plus the care teams of the
    # clients the actor sees).
    ("Practitioner/{id}", "prescriber", _row(200, 200, 404, 200, 200, 403, 403, 404)),
    ("PractitionerRole/{id}", "prescriber", _row(200, 200, 404, 200, 200, 403, 403, 404)),
    ("PractitionerRole/{id}", "other_therapist", _row(404, 404, 404, 404, 404, 403, 403, 200)),
    ("PractitionerRole?practitioner={id}", "therapist", _row(1, 1, 1, 1, 1, 403, 403, 0)),
    ("PractitionerRole?organization={id}", "partner", _row(1, 1, 0, 1, 1, 403, 403, 0)),
    ("PractitionerRole?organization={id}", "other", _row(0, 0, 0, 0, 0, 403, 403, 1)),
    # Group: a clinician's caseload, under the same policy (and an admin has none).
    ("Group/{id}", "prescriber", _row(200, 200, 404, 200, 200, 403, 403, 404)),
    ("Group/{id}", "admin", _row(404, 404, 404, 404, 404, 403, 403, 404)),
    ("Group?managing-entity={id}", "therapist", _row(1, 1, 1, 1, 1, 403, 403, 0)),
    ("Condition?patient={id}", "unreferred", _row(1, 0, 0, 1, 0, 403, 403, 0)),
]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, records, role):
    """Status codes for reads; for searches 1 = some entries, 0 = none (a row out of scope is
    simply not in the page). Clients and companions cannot hold tokens: their session asks."""
    membership = getattr(records, role)
    headers = {}
    if membership.is_staff_member:
        headers = {"Authorization": f"Bearer {_token(membership)}"}
    else:
        sign_in(client, membership.user)
    for template, target, expected in MATRIX:
        path = template.format(id=getattr(records, target).pk)
        response = client.get(BASE + path, headers=headers)
        want = expected[role]
        if "?" in template:
            if want == 403:
                assert response.status_code == 403, (path, role)
                continue
            assert response.status_code == 200, (path, role)
            assert bool(response.json().get("entry")) == bool(want), (path, role)
        else:
            assert response.status_code == want, (path, role, response.content[:200])
