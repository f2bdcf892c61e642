"""Bulk $export over HTTP (FHIR Bulk Data Access 2.0): the kick-off at system, Patient and
Group level, the status URL (poll with GET, cancel with DELETE) and the file downloads. Thin:
kapflow.fhir.export does the work; every error is an OperationOutcome."""

from django.http import FileResponse, HttpResponse

from kapflow.core import clock
from kapflow.fhir import export
from kapflow.fhir.models import ExportLevel, ExportStatus
from kapflow.fhir.selectors import SPECS
from kapflow.fhir.views import CONTENT_TYPE, BadRequest, _base, _instant, _json, fhir_endpoint

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
RETRY_AFTER_SECONDS = 5


def _types(request, level: str) -> list[str]:
    allowed = export.default_types(level)
    raw = ",".join(request.GET.getlist("_type"))
    if not raw:
        return allowed
    types = []
    for name in (part.strip() for part in raw.split(",")):
        if name not in SPECS:
            raise BadRequest("_type", f"_type: {name or 'an empty name'} is not served here.")
        if name not in allowed:
            raise BadRequest("_type", f"_type: {name} is not in the Patient compartment.")
        if name not in types:
            types.append(name)
    return types


def _kickoff(request, actor, level: str, group=None):
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise BadRequest("Prefer", "Send the header Prefer: respond-async to start an export.")
    accept = request.headers.get("Accept", CONTENT_TYPE)
    if accept and not any(kind in accept for kind in (CONTENT_TYPE, "*/*", "application/json")):
        raise BadRequest("Accept", "Accept must be application/fhir+json.")
    for name in request.GET:
        if name not in ("_outputFormat", "_type", "_since"):
            raise BadRequest(name, f"The parameter {name} is not supported on $export.")
    output_format = request.GET.get("_outputFormat", NDJSON)
    if output_format not in OUTPUT_FORMATS:
        raise BadRequest("_outputFormat", "_outputFormat must be application/fhir+ndjson.")
    since = request.GET.get("_since")
    started = export.export_kickoff(
        actor=actor,
        level=level,
        types=_types(request, level),
        since=_instant(since, "_since") if since is not None else None,
        request_url=request.build_absolute_uri(),
        group=group,
    )
    response = HttpResponse(status=202)
    response["Content-Location"] = f"{_base(request)}$export-status/{started.token}"
    return response


@fhir_endpoint
def kickoff_system(request, actor):
    """GET [base]/$export: every resource the requester may see."""
    return _kickoff(request, actor, ExportLevel.SYSTEM)


@fhir_endpoint
def kickoff_patient(request, actor):
    """GET [base]/Patient/$export: every patient the requester may see, with their data."""
    return _kickoff(request, actor, ExportLevel.PATIENT)


@fhir_endpoint
def kickoff_group(request, actor, group_id: str):
    """GET [base]/Group/{id}/$export: the caseload of the Practitioner with that id."""
    group = export.group_get(actor=actor, group_id=group_id)
    return _kickoff(request, actor, ExportLevel.GROUP, group=group)


@fhir_endpoint(methods=("GET", "HEAD", "DELETE"))
def status(request, actor, token: str):
    """Poll (202 with X-Progress while it runs, then 200 with the manifest) or cancel."""
    if request.method == "DELETE":
        export.export_cancel(actor=actor, token=token)
        return HttpResponse(status=202)
    job = export.export_get(actor=actor, token=token)
    if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        response = HttpResponse(status=202)
        response["X-Progress"] = job.progress or job.get_status_display()
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if job.status == ExportStatus.FAILED:
        from kapflow.fhir.views import outcome

        return outcome(409, "exception", job.error or "The export failed; start a new one.")
    base = _base(request)
    manifest = {
        "transactionTime": job.created_at.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": entry["type"],
                "url": f"{base}$export-file/{job.token}/{entry['file']}",
                "count": entry["count"],
            }
            for entry in job.output
        ],
        "error": [],
    }
    response = _json(manifest)
    response["Content-Type"] = "application/json"
    response["Expires"] = job.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    response["Cache-Control"] = "no-store"
    return response


@fhir_endpoint
def download(request, actor, token: str, name: str):
    """One NDJSON file of the requester's complete export."""
    _, path = export.export_file(actor=actor, token=token, name=name)
    response = FileResponse(path.open("rb"), content_type=NDJSON)
    response["Cache-Control"] = "no-store"
    response["Last-Modified"] = clock.now().strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response
