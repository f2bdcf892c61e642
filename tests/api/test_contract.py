"""Every operation of the served OpenAPI document, for every role, against live responses
(issue 13, decision 0040).

The document is fetched from the running app (/api/v1/openapi.json), never from a file.
schemathesis generates requests for each operation from it, a few valid and a few invalid,
the same ones on every run (derandomized). Each is sent in process through Django's test
client, so writes land in the test's transaction. The roles:

- practice_admin, therapist and biller of the demo practice, with their API tokens;
- prescriber, the partner organisation's prescriber, with a token;
- other_clinician, a therapist of a second practice, with a token;
- client and companion, through a signed-in session (API tokens are for staff only).

Ids in paths and bodies of valid requests name real rows (the role's own organisation's
first), except one request in three, which keeps the generated id; invalid requests are sent
as generated. Each response must not be a 5xx, must have a documented status and content type
and match the schema documented for that status, and a 4xx must be the API's JSON error shape.
Failures are listed per role, one example per operation and problem, with the request.
"""

import contextlib
import json
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from django.apps import apps
from django.db import transaction
from django.test import Client as DjangoClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response

from kapflow.accounts.models import Membership, Role
from kapflow.accounts.services import api_token_create
from kapflow.demo.loader import load_demo
from tests.accounts.factories import OrganisationFactory, member
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.notes.factories import draft
from tests.patients.factories import ClientFactory, on_team

DOCUMENT = "/api/v1/openapi.json"
BASE_URL = "http://testserver"
# Requests generated per operation. Every role sends all the valid ones and one of the
# invalid ones (a different one per role): 4 per operation and role, what fits the 90 s the
# file may take on SQLite in CI. By hand, KAPFLOW_CONTRACT_DEPTH=N generates N times as many
# and every role sends every one.
DEPTH = int(os.environ.get("KAPFLOW_CONTRACT_DEPTH", "1"))
VALID = 3 * DEPTH
INVALID = 2 * DEPTH
ROLES = [
    "practice_admin",
    "therapist",
    "biller",
    "prescriber",
    "other_clinician",
    "client",
    "companion",
]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
# The model whose rows a path or body parameter names, by parameter name; (router prefix,
# name) where one name means different rows under different routers.
ID_MODELS = {
    "alert_id": "alerts.Alert",
    "amendment_id": "amendments.AmendmentRequest",
    "appointment_id": "scheduling.Appointment",
    "assignment_id": "assessments.Assignment",
    "client_id": "patients.Client",
    "co_clinician_id": "accounts.Membership",
    "course_id": "courses.Course",
    "diagnosis_id": "billing.Diagnosis",
    "document_id": "consents.ConsentDocument",
    "entry_id": "journal.JournalEntry",
    ("/sessions/", "entry_id"): "encounters.TimelineEntry",
    "group_id": "encounters.GroupSession",
    "invoice_id": "billing.Invoice",
    "inquiry_id": "directory.Inquiry",
    "member_id": "patients.CareTeamMember",
    "membership_id": "accounts.Membership",
    "note_id": "notes.Note",
    "payment_id": "billing.Payment",
    "prescriber_id": "accounts.Membership",
    "prescription_id": "prescriptions.Prescription",
    "referral_id": "prescriptions.Referral",
    "response_id": "assessments.Response",
    "session_id": "encounters.DosingSession",
    "signature_id": "consents.ConsentSignature",
    "subscription_id": "billing.Subscription",
    "task_id": "assessments.UrgentTask",
    "therapist_id": "accounts.Membership",
    "thread_id": "messaging.Thread",
    "token_id": "accounts.ApiToken",
}
PREFIX = "/api/v1"


# ---- generated requests --------------------------------------------------------------------


def _generate(operation, mode: GenerationMode, count: int) -> list:
    """Up to `count` requests for the operation, the same ones on every run."""
    found = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def collect(case):
        found.append(case)

    # Unsatisfiable: nothing to make invalid (no parameters, no body).
    with contextlib.suppress(Unsatisfiable):
        collect()
    return found


def generated(document: dict) -> list[tuple]:
    """(operation, valid requests, invalid requests) for every operation, in path order."""
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_dict(document, config=config)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (op.path, op.method),
    )
    return [
        (
            op,
            _generate(op, GenerationMode.POSITIVE, VALID),
            _generate(op, GenerationMode.NEGATIVE, INVALID),
        )
        for op in operations
    ]


# ---- the seeded world ----------------------------------------------------------------------


def _seed() -> dict:
    """The demo practice and its partner (every kind of record), and a second practice with
    a clinician, a client, a course and a note. Returns each role's membership."""
    load_demo(clients=3)
    demo = {
        m.user.email.split("@")[0]: m
        for m in Membership.objects.select_related("user", "organisation").filter(
            user__email__endswith=".example"
        )
    }
    other = OrganisationFactory(name="Second Practice", state="OR")
    other_clinician = member(other, Role.THERAPIST, licences=[("LMFT", "OR")])
    other_client = ClientFactory(organisation=other)
    on_team(other_client, other_clinician)
    make_course(other_client, other_clinician, stage="preparation")
    draft(other_client, other_clinician)
    return {
        "practice_admin": demo["admin"],
        "therapist": demo["therapist"],
        "biller": demo["billing"],
        "prescriber": demo["prescriber"],
        "other_clinician": other_clinician,
        "client": demo["client"],
        "companion": demo["companion"],
    }


@pytest.fixture(scope="module")
def contract(django_db_setup, django_db_blocker):
    """The served document's requests and the seeded world, made once for the module in a
    transaction rolled back at its end. Each role's test runs in a savepoint inside it, so
    one role's writes never reach another's run."""
    with django_db_blocker.unblock(), transaction.atomic():
        started = time.perf_counter()
        answer = DjangoClient().get(f"{PREFIX}/openapi.json")
        assert answer.status_code == 200
        document = answer.json()
        operations = generated(document)
        made = time.perf_counter()
        actors = _seed()
        print(
            f"\ncontract: {len(operations)} operations, requests generated in "
            f"{made - started:.1f} s, world seeded in {time.perf_counter() - made:.1f} s"
        )
        yield document, operations, actors
        transaction.set_rollback(True)


def _signed_in(actor, role: str) -> tuple[DjangoClient, dict, int | None]:
    """A test client for the role, the headers that authenticate it, and its token's id."""
    http = DjangoClient()
    if role in ("client", "companion"):
        sign_in(http, actor.user)
        return http, {}, None
    token, raw = api_token_create(actor=actor, name="contract", mfa_verified=True)
    return http, {"Authorization": f"Bearer {raw}"}, token.pk


def _id_model(path: str, name: str) -> str | None:
    for key, model in ID_MODELS.items():
        if isinstance(key, tuple) and key[1] == name and path.startswith(PREFIX + key[0]):
            return model
    return ID_MODELS.get(name)


def _id_pools(organisation_id: int) -> dict[str, list[int]]:
    """Each model's ids: the role's organisation's rows first, then the others'."""
    pools = {}
    for label in set(ID_MODELS.values()):
        if not apps.is_installed(f"kapflow.{label.split('.')[0]}"):
            continue
        model = apps.get_model(label)
        if any(f.name == "organisation" for f in model._meta.get_fields()):
            rows = model.objects.values_list("pk", "organisation_id")
            pools[label] = [
                pk for _, pk in sorted((org != organisation_id, pk) for pk, org in rows)
            ]
        else:
            pools[label] = sorted(model.objects.values_list("pk", flat=True))
    return pools


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_send(case, number: int, valid: bool, pools: dict, own_token_id: int | None):
    """The request as sent. A valid one names real rows (but one in three keeps its generated
    ids) and carries its own Idempotency-Key, as a real client's would; an invalid one is
    sent as generated. The role's own token is never revoked: the run needs it."""
    real = valid and number % 3 != 2

    def real_id(name, value):
        ids = pools.get(_id_model(case.path, name), [])
        if real and ids and _is_id(value):
            value = ids[number % len(ids)]
        return value + 1 if name == "token_id" and value == own_token_id else value

    path_parameters = {k: real_id(k, v) for k, v in case.path_parameters.items()}
    body = case.body
    if isinstance(body, dict):
        body = {k: real_id(k, v) for k, v in body.items()}
    headers = case.headers.copy()
    if valid and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = f"contract {number} {case.method} {case.path}"
    return case.operation.Case(
        method=case.method,
        path_parameters=path_parameters,
        headers=headers,
        cookies=case.cookies,
        query=case.query,
        body=body,
        media_type=case.media_type,
    )


# ---- one request ---------------------------------------------------------------------------

REQUEST_ARGS = ("method", "url", "headers", "files", "data", "params", "cookies", "json")


def prepare(case) -> requests.PreparedRequest | None:
    """The case as an HTTP client would send it; None when no HTTP client could (a header
    value with a line break, say)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    try:
        return requests.Request(**{k: v for k, v in kwargs.items() if k in REQUEST_ARGS}).prepare()
    except (ValueError, requests.exceptions.RequestException):
        return None


def send(http: DjangoClient, prepared: requests.PreparedRequest, auth: dict) -> Response:
    """Send the request through Django's test client and wrap the answer for schemathesis."""
    headers = {
        name: value
        for name, value in prepared.headers.items()
        if name.lower() not in ("content-type", "content-length")
    }
    started = time.perf_counter()
    answer = http.generic(
        prepared.method,
        prepared.path_url,
        data=prepared.body or b"",
        content_type=prepared.headers.get("Content-Type", "application/octet-stream"),
        headers={**headers, **auth},
    )
    elapsed = time.perf_counter() - started
    content = b"".join(answer.streaming_content) if answer.streaming else answer.content
    headers_out: dict[str, list[str]] = {}
    for name, value in answer.items():
        headers_out.setdefault(name.lower(), []).append(value)
    return Response(
        status_code=answer.status_code,
        headers=headers_out,
        content=content,
        request=prepared,
        elapsed=elapsed,
        verify=True,
        message=answer.reason_phrase,
        encoding=answer.charset,
    )


def error_shape_problem(response: Response) -> str | None:
    """Why a 4xx is not {"errors": [{"field", "code", "message"}, ...]}, or None."""
    status = response.status_code
    if not 400 <= status < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    if not content_type.startswith("application/json"):
        return f"a {status} answered {content_type or 'without a content type'}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"a {status} is not JSON"
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return f"a {status} has no list of errors"
    for error in errors:
        if not (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
            and "field" in error
            and (error["field"] is None or isinstance(error["field"], str))
        ):
            return f"a {status} error is not {{field, code, message}}: {error!r}"
    return None


def _shown(response: Response) -> str:
    request = response.request
    body = (
        request.body.decode(errors="replace") if isinstance(request.body, bytes) else request.body
    )
    answer = response.content[:300].decode(errors="replace")
    return (
        f"{request.method} {request.path_url} body={(body or '')[:300]!r}\n"
        f"    -> {response.status_code} {answer}"
    )


# ---- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(contract, db, role):
    _, operations, actors = contract
    actor = actors[role]
    http, auth, token_id = _signed_in(actor, role)
    pools = _id_pools(actor.organisation_id)
    failures: dict[tuple[str, str], str] = {}
    statuses: Counter = Counter()
    answered: set[str] = set()
    started = time.perf_counter()
    for operation, valid, invalid in operations:
        picked = [(case, True) for case in valid]
        if DEPTH > 1:
            picked += [(case, False) for case in invalid]
        elif invalid:
            picked.append((invalid[ROLES.index(role) % len(invalid)], False))
        for number, (generated_case, is_valid) in enumerate(picked):
            case = _to_send(generated_case, number, is_valid, pools, token_id)
            prepared = prepare(case)
            if prepared is None:
                continue
            try:
                response = send(http, prepared, auth)
            except Exception as exc:  # escaped every handler: Django would answer 500
                failures.setdefault((operation.label, "exception"), f"{case!r}: {exc!r}")
                continue
            statuses[response.status_code] += 1
            answered.add(operation.label)
            problems = []
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                problems = [(f.title, f.message) for f in group.exceptions]
            shape = error_shape_problem(response)
            if shape:
                problems.append(("Not the API's error shape", shape))
            for title, message in problems:
                failures.setdefault((operation.label, title), f"{message}\n    {_shown(response)}")
    print(
        f"\n{role}: {sum(statuses.values())} requests, {len(answered)} of {len(operations)} "
        f"operations, {time.perf_counter() - started:.1f} s; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, f"{len(failures)} contract failures as {role}:\n" + "\n".join(
        f"- {label}: {title}\n    {detail}" for (label, title), detail in sorted(failures.items())
    )
    assert {op.label for op, _, _ in operations} - answered == set()
    assert any(200 <= status < 300 for status in statuses), "the role reached nothing"


def test_every_path_parameter_names_rows_the_run_seeds(contract):
    """A new operation whose path names rows by a new parameter gets real ids too: add the
    parameter to ID_MODELS."""
    document = contract[0]
    missing = {
        (path, parameter["name"])
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and _id_model(path, parameter["name"]) is None
    }
    assert missing == set()


def test_every_operation_has_requests(contract):
    _, operations, _ = contract
    assert len(operations) > 100
    assert [op.label for op, valid, _ in operations if not valid] == []
