"""The FHIR R4 HTTP surface at /fhir/R4: thin views that resolve who is asking (a bearer
token or the browser session, after MFA where required), parse the search parameters and
hand over to kapflow.fhir.selectors. Every error is an OperationOutcome naming the parameter
at fault; nothing here decides access (kapflow.policy does) or maps records (mapping_*).
"""

import base64
import json
import logging
from datetime import UTC, datetime, time
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from kapflow import policy
from kapflow.audit.exports import export_response
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.fhir import selectors
from kapflow.fhir.selectors import SPECS, Search

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/fhir+json"
MAX_COUNT = 100
DEFAULT_COUNT = 20
IGNORED = frozenset({"_format", "_pretty"})
SYSTEM_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
SERVED_FROM_CODE = frozenset({"Questionnaire", "Binary"})


class BadRequest(Exception):
    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def _json(data: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(data), status=status, content_type=CONTENT_TYPE)


def outcome(status: int, code: str, message: str, *, expression: str | None = None):
    issue = {"severity": "error", "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    response = _json({"resourceType": "OperationOutcome", "issue": [issue]}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="kapflow"'
    return response


def _actor(request):
    """The acting membership, or None for no valid credentials. A bearer token wins over
    the session; a token of either scope reads (both include reading)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        from kapflow.api import TokenAuth

        return TokenAuth().authenticate(request, token.strip())
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    from kapflow.accounts.middleware import mfa_required

    if not user.is_verified() and mfa_required(user, request.memberships):
        return None
    return getattr(request, "actor", None)


def fhir_endpoint(view=None, *, methods=("GET", "HEAD")):
    """Authenticate, refuse non-staff, and turn every failure into an OperationOutcome."""
    if view is None:
        return lambda view: fhir_endpoint(view, methods=methods)

    def wrapped(request, *args, **kwargs):
        if request.method not in methods:
            response = outcome(405, "not-supported", f"Only {', '.join(methods)} here.")
            response["Allow"] = ", ".join(methods)
            return response
        # The view is exempt from the CSRF check, so a change (DELETE) must carry a bearer
        # token: a browser session cannot be made to send one cross-site.
        if request.method not in ("GET", "HEAD") and "Authorization" not in request.headers:
            return outcome(403, "forbidden", "Send a bearer token to change anything here.")
        try:
            actor = _actor(request)
            if actor is None:
                return outcome(401, "login", "Sign in or send a valid bearer token.")
            if not policy.can_use_fhir(actor):
                return outcome(403, "forbidden", "This account may not use the FHIR API.")
            return view(request, actor, *args, **kwargs)
        except BadRequest as error:
            return outcome(400, "invalid", error.message, expression=error.parameter)
        except NotFound:
            return outcome(404, "not-found", "Resource not found.")
        except PermissionDenied as error:
            return outcome(403, "forbidden", error.message)
        except DomainError as error:
            if error.code == "fhir.export_running":
                return outcome(429, "throttled", error.message)
            return outcome(409, "business-rule", error.message)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return csrf_exempt(wrapped)


def _int(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 9 or not low <= int(raw) <= high:
        raise BadRequest(name, f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _instant(raw: str, name: str) -> datetime:
    try:
        parsed = parse_datetime(raw)
        if parsed is None:
            day = parse_date(raw)
            if day is not None:
                parsed = datetime.combine(day, time.min)
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadRequest(name, f"{name} must be a date or date-time, e.g. ge2026-01-31.")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _search(request, resource_type: str) -> Search:
    if resource_type == "Questionnaire":
        for name in request.GET:
            if name not in {"_count", "_offset"} | IGNORED:
                raise BadRequest(name, f"The search parameter {name} is not supported.")
        return Search(
            count=_int(request, "_count", DEFAULT_COUNT, 1, MAX_COUNT), offsets=_offsets(request, 1)
        )
    spec = SPECS[resource_type]
    references = {name: (kind, field) for name, kind, field in spec.references}
    known = {"_count", "_offset", "patient", "_lastUpdated", "_include"} | IGNORED | set(references)
    for name in request.GET:
        if name not in known:
            raise BadRequest(name, f"The search parameter {name} is not supported.")
    include = False
    for raw in request.GET.getlist("_include"):
        if spec.patient_field is None or raw != f"{resource_type}:patient":
            raise BadRequest("_include", f"_include takes {resource_type}:patient only.")
        include = True
    patient = None
    raw = request.GET.get("patient")
    if raw is not None:
        if spec.patient_field is None:
            raise BadRequest("patient", f"{resource_type} has no patient search parameter.")
        value = raw.removeprefix("Patient/")
        if not (value.isascii() and value.isdecimal()) or len(value) > 12:
            raise BadRequest("patient", "patient must be a Patient id, e.g. Patient/12.")
        patient = int(value)
    where = []
    for name, (kind, field) in references.items():
        raw = request.GET.get(name)
        if raw is None:
            continue
        value = raw.removeprefix(f"{kind}/")
        if not (value.isascii() and value.isdecimal()) or len(value) > 12:
            raise BadRequest(name, f"{name} must be a {kind} id, e.g. {kind}/12.")
        where.append((field, int(value)))
    after = before = None
    updated = request.GET.getlist("_lastUpdated")
    if updated and spec.updated_field is None:
        raise BadRequest("_lastUpdated", f"{resource_type} has no _lastUpdated search.")
    for raw in updated:
        prefix, rest = raw[:2], raw[2:]
        if prefix in ("gt", "ge"):
            after = _instant(rest, "_lastUpdated")
        elif prefix in ("lt", "le"):
            before = _instant(rest, "_lastUpdated")
        else:
            raise BadRequest(
                "_lastUpdated", "_lastUpdated takes gt, ge, lt or le, e.g. ge2026-01-31."
            )
    return Search(
        patient=patient,
        updated_after=after,
        updated_before=before,
        count=_int(request, "_count", DEFAULT_COUNT, 1, MAX_COUNT),
        offsets=_offsets(request, len(spec.parts())),
        include_patients=include,
        where=tuple(where),
    )


def _offsets(request, parts: int) -> tuple[int, ...]:
    """`_offset`: where the page starts, one whole number per table the type is read from
    (Observation: totals, then vital signs), joined by "-". The links carry it; a client
    need not build it."""
    raw = request.GET.get("_offset")
    if raw is None:
        return (0,) * parts
    pieces = raw.split("-")
    if len(pieces) != parts or not all(
        p.isascii() and p.isdecimal() and len(p) <= 9 for p in pieces
    ):
        raise BadRequest("_offset", "_offset must be the value from a next or previous link.")
    return tuple(int(p) for p in pieces)


def _base(request) -> str:
    return request.build_absolute_uri("/fhir/R4/")


def _bundle(kind: str, resources: list[dict], base: str, links: list[dict], included=()) -> dict:
    bundle = {
        "resourceType": "Bundle",
        "type": kind,
        "timestamp": clock.now().isoformat(),
    }
    # FHIR JSON has no empty arrays: an empty page has no "entry" at all.
    if links:
        bundle["link"] = links
    if resources or included:
        bundle["entry"] = []
    for mode, rows in (("match", resources), ("include", included)):
        for resource in rows:
            entry = {
                "fullUrl": f"{base}{resource['resourceType']}/{resource['id']}",
                "resource": resource,
            }
            if kind == "searchset":
                entry["search"] = {"mode": mode}
            bundle["entry"].append(entry)
    return bundle


def metadata(request):
    """The CapabilityStatement: only what this server really does. Public, as FHIR asks."""
    if request.method not in ("GET", "HEAD"):
        return outcome(405, "not-supported", "Only GET.")
    resources = []
    paging = [{"name": "_count", "type": "number"}, {"name": "_offset", "type": "string"}]
    for name, spec in SPECS.items():
        params = list(paging)
        if spec.patient_field:
            params.append({"name": "patient", "type": "reference"})
        params += [{"name": name, "type": "reference"} for name, _, _ in spec.references]
        if spec.updated_field:
            params.append({"name": "_lastUpdated", "type": "date"})
        entry = {
            "type": name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params,
        }
        if spec.patient_field:
            entry["searchInclude"] = [f"{name}:patient"]
        if name == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                },
                {"name": "export", "definition": PATIENT_EXPORT},
            ]
        if name == "Group":
            entry["operation"] = [{"name": "export", "definition": GROUP_EXPORT}]
        resources.append(entry)
    resources.append(
        {
            "type": "Questionnaire",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": paging,
        }
    )
    resources.append({"type": "Binary", "interaction": [{"code": "read"}]})
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": clock.now().isoformat(timespec="seconds"),
        "publisher": "kapflow",
        "kind": "instance",
        "software": {"name": "kapflow"},
        "implementation": {"description": "kapflow FHIR R4 API", "url": _base(request).rstrip("/")},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": (
                        "A kapflow API token as a bearer token (read or read-write scope), or "
                        "a signed-in staff session. Results are scoped like kapflow's pages."
                    )
                },
                "resource": resources,
                "operation": [{"name": "export", "definition": SYSTEM_EXPORT}],
            }
        ],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
    }
    return _json(statement)


def _known(resource_type: str) -> None:
    if resource_type not in SPECS and resource_type not in SERVED_FROM_CODE:
        raise NotFound()


@fhir_endpoint
def search(request, actor, resource_type: str):
    _known(resource_type)
    if resource_type == "Binary":
        raise BadRequest("Binary", "Binary is read by id only (a DocumentReference's url).")
    query = _search(request, resource_type)
    if resource_type == "Questionnaire":
        found = selectors.questionnaire_search(search=query)
    else:
        found = selectors.resource_search(actor=actor, resource_type=resource_type, search=query)
    following = found.following
    base = _base(request)
    params = [(k, v) for k in request.GET for v in request.GET.getlist(k) if k != "_offset"]
    if "_count" not in request.GET:
        params.append(("_count", str(query.count)))

    def link(relation: str, offsets) -> dict:
        value = "-".join(str(o) for o in offsets)
        return {
            "relation": relation,
            "url": f"{base}{resource_type}?{urlencode([*params, ('_offset', value)])}",
        }

    links = [link("self", query.offsets)]
    if following is not None:
        links.append(link("next", following))
    if any(query.offsets):
        links.append(link("first", (0,) * len(query.offsets)))
    return _json(_bundle("searchset", found.resources, base, links, found.included))


@fhir_endpoint
def read(request, actor, resource_type: str, resource_id: str):
    _known(resource_type)
    if request.GET:
        name = next(iter(request.GET))
        if name not in IGNORED:
            raise BadRequest(name, f"The parameter {name} is not supported on a read.")
    if resource_type == "Questionnaire":
        return _json(selectors.questionnaire_read(resource_id=resource_id))
    if resource_type == "Binary":
        return _binary(request, actor, resource_id)
    return _json(
        selectors.resource_read(actor=actor, resource_type=resource_type, resource_id=resource_id)
    )


def _binary(request, actor, resource_id: str):
    """A note's PDF: the raw file, or a Binary resource holding it when the client asks for
    FHIR JSON. Either way audited as the note page's export (with the file's digest)."""
    note, body = selectors.note_pdf(actor=actor, binary_id=resource_id)
    as_resource = "json" in request.headers.get("Accept", "")
    if as_resource:
        resource = {
            "resourceType": "Binary",
            "id": resource_id,
            "contentType": "application/pdf",
            "data": base64.b64encode(body).decode("ascii"),
        }
        body = json.dumps(resource).encode("utf-8")
    response = export_response(
        actor=actor,
        action="note.export",
        body=body,
        content_type=CONTENT_TYPE if as_resource else "application/pdf",
        filename=f"note-{note.pk}.{'json' if as_resource else 'pdf'}",
        target=note,
        client_id=note.client_id,
    )
    response["Cache-Control"] = "no-store"
    return response


@fhir_endpoint
def everything(request, actor, resource_id: str):
    """Patient/{id}/$everything: the client's resources the actor may see, one Bundle."""
    for name in request.GET:
        if name not in IGNORED:
            raise BadRequest(name, f"The parameter {name} is not supported on $everything.")
    pk = selectors.parse_id(SPECS["Patient"], resource_id)
    if pk is None:
        raise NotFound()
    resources = selectors.patient_everything(actor=actor, client_id=pk)
    base = _base(request)
    links = [{"relation": "self", "url": f"{base}Patient/{resource_id}/$everything"}]
    return _json(_bundle("searchset", resources, base, links))


def unknown(request, rest: str = ""):
    return outcome(404, "not-found", "No such FHIR endpoint.")


@login_required
@require_safe
def my_record(request):
    """The signed-in client's record as one FHIR Bundle (a download). The file's SHA-256 is
    audited as a release, so it appears in the client's accounting of disclosures."""
    try:
        client, resources = selectors.own_record(actor=request.actor)
    except NotFound as error:
        raise Http404 from error
    base = _base(request)
    bundle = _bundle("collection", resources, base, [])
    body = json.dumps(bundle, indent=1).encode("utf-8")
    stamp = clock.clinical_date(client.organisation).isoformat()
    response = export_response(
        actor=request.actor,
        action="fhir.record_download",
        body=body,
        content_type=CONTENT_TYPE,
        filename=f"record-{stamp}.fhir.json",
        target=client,
        client_id=client.pk,
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_safe
def my_record_pdf(request):
    """The same record as a readable PDF; audited as a release with the file's digest."""
    from kapflow.fhir.pdf import render_record

    try:
        client, resources = selectors.own_record(actor=request.actor)
    except NotFound as error:
        raise Http404 from error
    body = render_record(resources)
    stamp = clock.clinical_date(client.organisation).isoformat()
    response = export_response(
        actor=request.actor,
        action="fhir.record_pdf",
        body=body,
        content_type="application/pdf",
        filename=f"record-{stamp}.pdf",
        target=client,
        client_id=client.pk,
    )
    response["Cache-Control"] = "no-store"
    return response
