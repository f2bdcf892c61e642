"""Idempotency (decision 0038): one request done once, however often it is sent.

Two doors share one table (core.IdempotencyRecord) and the claim protocol here:

- API writes with an `Idempotency-Key` header (IETF draft "The Idempotency-Key HTTP Header
  Field"): the first response is kept and replayed to a repeat. `api_key_check` and
  `api_key_claim` are added to every operation by kapflow.api, in one place.
- Page forms with a one-time token (kapflow.core.form_tokens): a repeat is sent to where the
  first went.

The claim is an INSERT under a unique constraint, committed before the work runs: of two
copies arriving together exactly one inserts, and the other sees the row (in flight, or done).
Nothing here logs a key, a body or a path; stored API bodies live only in the table and are
deleted 24 hours after they were made.
"""

import dataclasses
import hashlib
import logging
from datetime import timedelta
from functools import wraps

from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse

from kapflow.core import clock
from kapflow.core.models import IdempotencyKind, IdempotencyRecord

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_MAX = 255
# Records are kept this long after they were made; a repeat after that runs again.
RETENTION = timedelta(hours=24)
# A claim still "in flight" this long after it was made belongs to a request that died
# without finishing (a killed worker): the next copy may take it over instead of getting 409
# until the purge.
ABANDONED_AFTER = timedelta(minutes=10)


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


# ---- the claim protocol, shared by the API and the page forms ---------------------------------


@dataclasses.dataclass(frozen=True)
class Claim:
    """What trying to claim a key found.

    `record` is ours to run when `outcome` is "claimed"; otherwise it is the earlier copy's:
    "done" (finished: replay it), "in_flight" (still running) or "mismatch" (the key was used
    for a different request)."""

    outcome: str
    record: IdempotencyRecord | None = None


def claim(*, kind: str, principal: str, key: str, fingerprint: str) -> Claim:
    """Claim `key` for `principal`, or report the earlier claim.

    The INSERT runs in its own savepoint and, outside a transaction (every request: kapflow
    does not use ATOMIC_REQUESTS), commits at once, so a concurrent copy sees it."""
    key_hash = sha256(key)
    for _ in range(3):
        now = clock.now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    kind=kind,
                    principal=principal,
                    key_hash=key_hash,
                    fingerprint=fingerprint,
                    created_at=now,
                )
            return Claim("claimed", record)
        except IntegrityError:
            pass
        earlier = IdempotencyRecord.objects.filter(
            kind=kind, principal=principal, key_hash=key_hash
        ).first()
        if earlier is None:
            continue  # released or purged since our INSERT failed: try again
        if earlier.created_at <= now - RETENTION:
            # Expired but not yet purged: the key is free again.
            IdempotencyRecord.objects.filter(pk=earlier.pk, created_at=earlier.created_at).delete()
            continue
        if earlier.fingerprint != fingerprint:
            return Claim("mismatch", earlier)
        if earlier.status is not None:
            return Claim("done", earlier)
        if earlier.created_at <= now - ABANDONED_AFTER:
            # Conditional update: of two copies taking over one abandoned claim, one wins.
            taken = IdempotencyRecord.objects.filter(
                pk=earlier.pk, status__isnull=True, created_at=earlier.created_at
            ).update(created_at=now)
            if taken:
                earlier.created_at = now
                logger.info("idempotency.taken_over", extra={"record_id": earlier.pk})
                return Claim("claimed", earlier)
        return Claim("in_flight", earlier)
    return Claim("in_flight", None)


def complete(
    record: IdempotencyRecord,
    *,
    status: int,
    content_type: str = "",
    body: bytes = b"",
    location: str = "",
) -> None:
    """Keep the outcome of the request that held the claim."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=status,
        content_type=content_type[:200],
        body=body,
        location=location[:2000],
        completed_at=clock.now(),
    )


def release(record: IdempotencyRecord) -> None:
    """Give the key back (the request failed, nothing was done): the next copy runs afresh."""
    IdempotencyRecord.objects.filter(pk=record.pk, status__isnull=True).delete()


def wait_for(record: IdempotencyRecord, *, seconds: float, sleep) -> IdempotencyRecord | None:
    """Re-read an in-flight record until it finishes or `seconds` have passed. None when it
    was released (the first copy failed). `sleep` is passed in (time.sleep) so tests never
    wait."""
    waited = 0.0
    step = 0.1
    current: IdempotencyRecord | None = record
    while current is not None and current.status is None and waited < seconds:
        sleep(step)
        waited += step
        current = IdempotencyRecord.objects.filter(pk=record.pk).first()
    return current


def idempotency_purge(*, now=None) -> int:
    """Delete every record made more than 24 hours ago; returns how many. Run it at least
    daily (`kapflow idempotency_purge`, or its task): stored API responses may hold PHI."""
    cutoff = (now or clock.now()) - RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    if deleted:
        logger.info("idempotency.purged", extra={"count": deleted})
    return deleted


# ---- the API door: Idempotency-Key on writes -------------------------------------------------


def parse_key(value: str) -> str | None:
    """The key from the header, or None when it is not 1 to 255 printable ASCII characters.

    The draft sends the key as a Structured Field string ("..."); a bare token, as many
    clients send, is taken as it is."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not 1 <= len(value) <= KEY_MAX or not value.strip():
        return None
    if any(not " " <= ch <= "~" for ch in value):
        return None
    return value


def request_fingerprint(request) -> str:
    """Method, path with query string, and SHA-256 of the body: a repeat must match all three."""
    return sha256(f"{request.method}\n{request.get_full_path()}\n{sha256(request.body)}")


def api_principal(request) -> str:
    """Who the key belongs to: the token's user and organisation, or the session's user."""
    token = getattr(request, "api_token", None)
    if token is not None:
        actor = request.actor
        return f"member:{actor.user_id}:{actor.organisation_id}"
    return f"user:{request.user.pk}"


@dataclasses.dataclass
class _Pending:
    key: str
    record: IdempotencyRecord | None = None


def _error(status: int, code: str, message: str) -> JsonResponse:
    """The API's error shape, naming the header as the field at fault."""
    return JsonResponse(
        {"errors": [{"field": HEADER, "code": code, "message": message}]}, status=status
    )


def api_key_check(run):
    """Ninja "view" decorator (wraps Operation.run, before authentication): a write with a
    malformed key gets 400; a well-formed one is noted for `api_key_claim`, and afterwards the
    response is kept (2xx to 4xx) or the key given back (5xx)."""

    @wraps(run)
    def wrapper(request, *args, **kwargs):
        raw = request.headers.get(HEADER)
        if raw is None or request.method not in WRITE_METHODS:
            return run(request, *args, **kwargs)
        key = parse_key(raw)
        if key is None:
            return _error(
                400,
                "idempotency_key.invalid",
                f"The {HEADER} header must be 1 to {KEY_MAX} printable ASCII characters.",
            )
        pending = _Pending(key=key)
        request.kapflow_idempotency = pending
        try:
            response = run(request, *args, **kwargs)
        except BaseException:
            if pending.record is not None:
                release(pending.record)
            raise
        if pending.record is not None:
            _keep(pending.record, response)
        return response

    return wrapper


def api_key_claim(view_func):
    """Ninja "operation" decorator (wraps the endpoint, after authentication and input
    validation): claims the key for the authenticated principal, or answers for the earlier
    request without running the endpoint."""

    @wraps(view_func)
    def wrapper(request, *args, **kwargs):
        pending = getattr(request, "kapflow_idempotency", None)
        if pending is None:
            return view_func(request, *args, **kwargs)
        found = claim(
            kind=IdempotencyKind.API,
            principal=api_principal(request),
            key=pending.key,
            fingerprint=request_fingerprint(request),
        )
        if found.outcome == "claimed":
            pending.record = found.record
            return view_func(request, *args, **kwargs)
        if found.outcome == "done":
            logger.info("idempotency.replayed", extra={"record_id": found.record.pk})
            return replay(found.record)
        if found.outcome == "mismatch":
            return _error(
                422,
                "idempotency_key.reused",
                f"This {HEADER} was already used for a different request (method, path or "
                "body). Use a new key for a new request.",
            )
        return _error(
            409,
            "idempotency_key.in_flight",
            f"A request with this {HEADER} is still being processed. Try again shortly.",
        )

    return wrapper


def _keep(record: IdempotencyRecord, response) -> None:
    if response.status_code >= 500 or getattr(response, "streaming", False):
        release(record)
        return
    complete(
        record,
        status=response.status_code,
        content_type=response.get("Content-Type", ""),
        body=bytes(response.content),
        location=response.get("Location", ""),
    )


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status)
    if record.content_type:
        response["Content-Type"] = record.content_type
    else:
        del response["Content-Type"]
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response


# ---- the OpenAPI document ------------------------------------------------------------------

OPENAPI_DESCRIPTION = (
    f"\n\n**Idempotency.** Every write (POST, PUT, PATCH, DELETE) accepts an optional "
    f'`{HEADER}` header (IETF draft "The Idempotency-Key HTTP Header Field"): 1 to '
    f"{KEY_MAX} printable ASCII characters, a UUID for example. The first response (status, "
    f"body, content type; not a 5xx) is kept for 24 hours for your token's user and "
    f"organisation (or your signed-in user) and that key. Sending the same request again "
    f"with the same key returns it again, with `{REPLAYED_HEADER}: true`, without doing "
    f"anything twice. The same key with a different method, path or body is a 422 "
    f"(`idempotency_key.reused`); a repeat while the first is still running is a 409 "
    f"(`idempotency_key.in_flight`); a malformed key is a 400 (`idempotency_key.invalid`)."
)

PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Optional. 1 to 255 printable ASCII characters, unique per request you mean to make "
        "once (a UUID). A repeat with the same key and the same request gets the first "
        f"response again, marked `{REPLAYED_HEADER}: true` (decision 0038)."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX},
}


# The answers the header adds to a write, where the operation does not document them already.
ERROR_RESPONSES = {
    "400": f"Malformed {HEADER}.",
    "409": f"A request with this {HEADER} is still being processed.",
    "422": f"This {HEADER} was used for a different request.",
}


def document(schema: dict, *, errors_ref: str | None) -> dict:
    """Add the header, and the errors it can cause, to every write of an OpenAPI document."""
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method.upper() not in WRITE_METHODS or not isinstance(operation, dict):
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == HEADER for p in parameters):
                parameters.append(dict(PARAMETER))
            if errors_ref is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                # Ninja keys responses by int: a str key beside an int one is the same key
                # twice in the JSON, and Swagger UI refuses such a document.
                if status in responses or int(status) in responses:
                    continue
                responses[int(status)] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": errors_ref}}},
                }
    return schema
