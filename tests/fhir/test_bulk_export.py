"""Bulk $export (FHIR Bulk Data): kick-off -> 202 with a status URL -> 202 with X-Progress
while the worker runs -> 200 with the manifest -> NDJSON files that validate line by line,
for the requester only, audited, cancelled by DELETE and deleted after expiry."""

import datetime
import json

import pytest
from django.test import override_settings
from django_tasks_db.models import DBTaskResult
from fhir.resources.R4B import get_fhir_model_class

from kapflow.accounts.models import ApiTokenScope
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.fhir import export
from kapflow.fhir.models import BulkExport
from tests.fhir.test_fhir import _record, _token

BASE = "/fhir/R4/"
DB_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture
def records(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    _record(world, world.client, world.therapist, world.prescriber)
    _record(world, world.unreferred, world.therapist)
    _record(world, world.other_client, world.other_therapist)
    return world


def _headers(token, **extra):
    return {"Authorization": f"Bearer {token}", **extra}


def _kickoff(client, token, path="$export", capture=None, **params):
    if capture is None:
        return client.get(BASE + path, params, headers=_headers(token, **ASYNC))
    with capture(execute=True):
        return client.get(BASE + path, params, headers=_headers(token, **ASYNC))


def _status_path(response) -> str:
    location = response["Content-Location"]
    return location[location.index(BASE) :]


def _files(client, token, manifest) -> dict[str, list[dict]]:
    found = {}
    for entry in manifest["output"]:
        url = entry["url"][entry["url"].index(BASE) :]
        response = client.get(url, headers=_headers(token))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        lines = b"".join(response.streaming_content).decode().splitlines()
        assert len(lines) == entry["count"]
        resources = [json.loads(line) for line in lines]
        for resource in resources:
            assert resource["resourceType"] == entry["type"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        found[entry["type"]] = resources
    return found


def test_kick_off_needs_prefer_respond_async(client, records):
    response = client.get(BASE + "$export", headers=_headers(_token(records.admin)))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Prefer"]
    assert not BulkExport.objects.exists()


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("$export", {"_type": "Nope"}, "_type"),
        ("Patient/$export", {"_type": "Practitioner"}, "_type"),
        ("$export", {"_outputFormat": "text/csv"}, "_outputFormat"),
        ("$export", {"_since": "yesterday"}, "_since"),
        ("$export", {"_typeFilter": "Patient?active=true"}, "_typeFilter"),
    ],
)
def test_bad_kick_off_names_the_parameter(client, records, path, params, parameter):
    response = _kickoff(client, _token(records.admin), path, **params)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["expression"] == [parameter]
    assert not BulkExport.objects.exists()


def test_system_export_round_trip(client, records, django_capture_on_commit_callbacks):
    token = _token(records.admin)
    response = _kickoff(client, token, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202
    status = client.get(_status_path(response), headers=_headers(token))
    assert status.status_code == 200
    manifest = status.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/R4/$export")
    files = _files(client, token, manifest)
    patients = {r["id"] for r in files["Patient"]}
    # The admin's practice only: never practice B's client.
    assert patients == {str(records.client.pk), str(records.unreferred.pk)}
    assert {"Condition", "Encounter", "Provenance", "MedicationAdministration"} <= set(files)
    # PractitionerRole goes wherever Practitioner goes: the system level.
    assert {r["id"] for r in files["PractitionerRole"]} == {r["id"] for r in files["Practitioner"]}
    # The caseloads are readable Groups, exported at the system level and valid line by line.
    assert str(records.therapist.pk) in {r["id"] for r in files["Group"]}
    audited = AuditEvent.objects.filter(action="fhir.export", actor=records.admin.user)
    assert audited.filter(client_id=records.client.pk).exists()
    assert not audited.filter(client_id=records.other_client.pk).exists()
    assert AuditEvent.objects.filter(action="fhir.export_download").count() == len(files)


def test_only_the_requester_reads_the_status_and_files(
    client, records, django_capture_on_commit_callbacks
):
    token = _token(records.therapist)
    response = _kickoff(client, token, capture=django_capture_on_commit_callbacks)
    path = _status_path(response)
    manifest = client.get(path, headers=_headers(token)).json()
    file_url = manifest["output"][0]["url"]
    file_path = file_url[file_url.index(BASE) :]
    for someone in (records.admin, records.therapist2, records.other_admin):
        other = _token(someone)
        assert client.get(path, headers=_headers(other)).status_code == 404
        assert client.get(file_path, headers=_headers(other)).status_code == 404
    assert client.get(file_path).status_code == 401
    # The files sit outside every served URL: nothing under /media/ answers.
    assert client.get("/media/private/fhir-exports/").status_code == 404


def test_patient_and_group_level(client, records, django_capture_on_commit_callbacks):
    token = _token(records.prescriber)
    response = _kickoff(
        client, token, "Patient/$export", capture=django_capture_on_commit_callbacks,
        _type="Patient,Encounter",
    )  # fmt: skip
    files = _files(
        client, token, client.get(_status_path(response), headers=_headers(token)).json()
    )
    # A partner prescriber: the referred client only.
    assert {r["id"] for r in files["Patient"]} == {str(records.client.pk)}
    assert set(files) == {"Patient", "Encounter"}

    admin = _token(records.therapist)
    response = _kickoff(
        client, admin, f"Group/{records.prescriber.pk}/$export",
        capture=django_capture_on_commit_callbacks, _type="Patient",
    )  # fmt: skip
    manifest = client.get(_status_path(response), headers=_headers(admin)).json()
    files = _files(client, admin, manifest)
    assert {r["id"] for r in files["Patient"]} == {str(records.client.pk)}
    # A group the actor may not name is not found.
    missing = _kickoff(client, admin, f"Group/{records.other_therapist.pk}/$export")
    assert missing.status_code == 404


def test_the_worker_runs_it_while_the_status_says_202(client, records):
    from tests.runtime.test_worker import claim, make_worker

    token = _token(records.admin)
    with override_settings(TASKS=DB_BACKEND):
        from django.db import transaction

        with transaction.atomic():
            response = _kickoff(client, token, _type="Patient")
        # Committed inside the test's transaction: run the on_commit hook by hand.
        job = BulkExport.objects.get()
        from kapflow.fhir.tasks import bulk_export_task

        result = bulk_export_task.enqueue(job.pk)
        status = client.get(_status_path(response), headers=_headers(token))
        assert status.status_code == 202
        assert status["X-Progress"] == "Queued"
        assert status["Retry-After"] == "5"
        make_worker().run_task(claim(result))
    assert DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL"
    done = client.get(_status_path(response), headers=_headers(token))
    assert done.status_code == 200
    assert [o["type"] for o in done.json()["output"]] == ["Patient"]


def test_one_export_at_a_time(client, records):
    token = _token(records.admin)
    with override_settings(TASKS=DB_BACKEND):
        assert _kickoff(client, token).status_code == 202
        second = _kickoff(client, token)
    assert second.status_code == 429
    assert second.json()["issue"][0]["code"] == "throttled"


def test_delete_cancels_and_removes_the_files(client, records, django_capture_on_commit_callbacks):
    # Cancelling changes something: a read-write token, as for any change through the API.
    token = _token(records.admin, ApiTokenScope.READ_WRITE)
    response = _kickoff(client, token, capture=django_capture_on_commit_callbacks)
    path = _status_path(response)
    job = BulkExport.objects.get()
    assert export.export_dir(job).is_dir()
    read_only = client.delete(path, headers=_headers(_token(records.admin)))
    assert read_only.status_code == 403
    assert export.export_dir(job).is_dir()
    assert client.delete(path, headers=_headers(token)).status_code == 202
    assert not export.export_dir(job).exists()
    assert client.get(path, headers=_headers(token)).status_code == 404
    assert client.delete(path, headers=_headers(token)).status_code == 404


def test_a_session_cannot_delete(client, records, django_capture_on_commit_callbacks):
    from tests.conftest import sign_in

    token = _token(records.admin)
    response = _kickoff(client, token, capture=django_capture_on_commit_callbacks)
    sign_in(client, records.admin.user)
    assert client.delete(_status_path(response)).status_code == 403
    assert client.get(_status_path(response)).status_code == 200


def test_expired_files_are_deleted_by_the_periodic_job(
    client, records, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to(clock.now(), tick=False)
    token = _token(records.admin)
    response = _kickoff(client, token, capture=django_capture_on_commit_callbacks)
    job = BulkExport.objects.get()
    assert export.export_purge() == {"expired": 0, "stale": 0, "orphans": 0}
    assert export.export_dir(job).is_dir()
    time_machine.shift(export.EXPIRES_AFTER + datetime.timedelta(minutes=1))
    assert client.get(_status_path(response), headers=_headers(token)).status_code == 404
    assert export.export_purge()["expired"] == 1
    assert not export.export_dir(job).exists()
    job.refresh_from_db()
    assert job.status == "expired" and job.output == []


def test_the_purge_is_a_scheduled_job():
    from kapflow.runtime.schedule import jobs

    job = next(job for job in jobs() if job.name == "fhir_exports_expire")
    assert job.every == datetime.timedelta(hours=1)


def test_each_exported_client_is_audited_once_and_reaches_the_accounting(
    client, records, django_capture_on_commit_callbacks
):
    """A partner prescriber's Patient-level export: one `fhir.export` row per client whose
    record went in (the export as target), not one per resource, and the client's accounting
    of disclosures shows it as one copy, to that prescriber."""
    from kapflow.audit.accounting import client_accounting

    token = _token(records.prescriber)
    _kickoff(client, token, "Patient/$export", capture=django_capture_on_commit_callbacks)
    job = BulkExport.objects.get()
    rows = AuditEvent.objects.filter(action="fhir.export")
    assert list(rows.values_list("client_id", "target_type", "target_id")) == [
        (records.client.pk, "bulkexport", job.pk)
    ]
    assert sum(entry["count"] for entry in job.output) > 10  # many resources, one row
    lines = [
        line
        for line in client_accounting(client=records.client, zone_name="UTC").lines
        if line.what.startswith("FHIR resources")
    ]
    assert len(lines) == 1 and lines[0].times == 1
    assert "Partner P" in lines[0].recipient
    # Not a disclosure of the client the prescriber was never referred.
    assert not AuditEvent.objects.filter(
        client_id=records.unreferred.pk, action__startswith="fhir."
    ).exists()


def test_a_group_export_audits_every_member_once(
    client, records, django_capture_on_commit_callbacks
):
    token = _token(records.admin)
    _kickoff(
        client, token, f"Group/{records.therapist.pk}/$export",
        capture=django_capture_on_commit_callbacks,
    )  # fmt: skip
    clients = AuditEvent.objects.filter(action="fhir.export").values_list("client_id", flat=True)
    assert sorted(clients) == sorted([records.client.pk, records.unreferred.pk])


def test_the_export_streams_in_batches(records, monkeypatch):
    """A batch of one row at a time: the files hold the same resources, each client is still
    audited once."""
    monkeypatch.setattr(export, "BATCH", 1)
    job = BulkExport.objects.create(
        organisation=records.practice, requested_by=records.admin, token="t-small",
        level="system", types=["Patient", "Condition", "Observation"], request_url="test",
    )  # fmt: skip
    result = export.export_run(export_id=job.pk)
    job.refresh_from_db()
    counts = {entry["type"]: entry["count"] for entry in job.output}
    assert counts == {"Patient": 2, "Condition": 3, "Observation": 4}
    assert result["resources"] == 9
    for entry in job.output:
        lines = (export.export_dir(job) / entry["file"]).read_text().splitlines()
        assert len(lines) == entry["count"]
        for line in lines:
            get_fhir_model_class(entry["type"]).model_validate(json.loads(line))
    exported = AuditEvent.objects.filter(action="fhir.export").values_list("client_id", flat=True)
    assert sorted(exported) == sorted([records.client.pk, records.unreferred.pk])
