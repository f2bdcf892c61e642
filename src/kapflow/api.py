"""The JSON API under /api/v1: one NinjaAPI, routers from each app, one error shape.

Every error is {"errors": [{"field", "code", "message"}]}: 422 for invalid input (the field is
named), 404 for missing-or-not-yours, 403 for not allowed, 409 for a rule that refuses, 401 for
no valid credentials. No input produces a 5xx.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from kapflow.accounts.middleware import mfa_required
from kapflow.accounts.models import ApiTokenScope, hash_secret
from kapflow.accounts.selectors import api_token_actor
from kapflow.accounts.services import api_token_refusal, api_token_used
from kapflow.core import clock, idempotency
from kapflow.core.api_docs import LocalSwagger
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.timezones import viewer_zone, zone

logger = logging.getLogger(__name__)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenAuth(HttpBearer):
    """Bearer token bound to one membership (created on the Security page or at /tokens).

    Refused (401) when revoked, expired, or made without MFA while demo mode is now off;
    a read-only token gets 403 on anything but GET, HEAD and OPTIONS (decision 0034)."""

    def authenticate(self, request, token):
        if not token or len(token) > 200:
            return None
        # One query: the token, its membership, organisation, user and roles.
        row = api_token_actor(token_hash=hash_secret(token))
        if row is None:
            return None
        membership = row.membership
        if not membership.is_active or not membership.user.is_active:
            return None
        refusal = api_token_refusal(row)
        if refusal is not None:
            logger.info("api_token.refused", extra={"token_id": row.pk, "reason": refusal})
            return None
        if row.scope == ApiTokenScope.READ and request.method not in SAFE_METHODS:
            raise PermissionDenied("This token is read-only.", code="token.read_only")
        # Written at most every few minutes (decision 0042).
        api_token_used(token=row, now=clock.now())
        request.api_token = row
        request.actor = membership
        request.user = membership.user
        # The token owner's zone, as ActorMiddleware does for pages (decision 0027);
        # ActorMiddleware deactivates it when the response is done.
        timezone.activate(zone(viewer_zone(membership.user, membership)))
        return membership


class SessionAuth(APIKeyCookie):
    """The browser session, with CSRF, and only after MFA where MFA is required."""

    param_name = "sessionid"

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not user.is_verified() and mfa_required(user, request.memberships):
            return None
        return getattr(request, "actor", None)


class NulCharacterError(ValueError):
    def __init__(self, path: tuple):
        super().__init__("NUL character")
        self.path = path


class JsonParser(Parser):
    """Ninja's JSON parser, refusing NUL characters in any string: PostgreSQL text cannot
    hold them, so they are a 422 naming the field instead of a database error."""

    def parse_body(self, request):
        data = super().parse_body(request)
        found = _nul_path(data, ())
        if found is not None:
            # Ninja turns any parser exception into a 400; on_http_error finds this cause
            # and answers 422 naming the field.
            raise NulCharacterError(found)
        return data


def _nul_path(value, path: tuple):
    """The path to the first string (or key) holding a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return (*path, str(key).replace("\x00", ""))
            found = _nul_path(item, (*path, str(key)))
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, (*path, index))
            if found is not None:
                return found
    return None


class KapflowAPI(NinjaAPI):
    """Ninja's API, with the Idempotency-Key header documented on every write."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        errors = "ErrorsOut" in schema.get("components", {}).get("schemas", {})
        return idempotency.document(
            schema, errors_ref="#/components/schemas/ErrorsOut" if errors else None
        )


api = KapflowAPI(
    parser=JsonParser(),
    title="kapflow API",
    version="1",
    description="Ketamine-assisted psychotherapy programmes: practice, prescriber, client."
    + idempotency.OPENAPI_DESCRIPTION,
    auth=[TokenAuth(), SessionAuth(csrf=True)],
    urls_namespace="api",
    docs=LocalSwagger(),
)
# Idempotency-Key on every write (decision 0038): the key's format is checked and the
# response kept around the whole operation; the key is claimed after authentication, when the
# principal is known.
api.add_decorator(idempotency.api_key_check, mode="view")
api.add_decorator(idempotency.api_key_claim, mode="operation")


def _errors(request, status, errors):
    return api.create_response(request, {"errors": errors}, status=status)


LOCATION_PARTS = {"body", "query", "path", "header", "cookie", "form", "file", "payload", "params"}


@api.exception_handler(NinjaValidationError)
def on_ninja_validation(request, exc):
    errors = []
    for err in exc.errors:
        # Ninja's location starts with where the value came from and the parameter's name
        # (["body", "payload", "reason"]); only those leading parts go, so a field that is
        # itself called "body" keeps its name.
        loc = [str(p) for p in err.get("loc", [])]
        for _ in range(2):
            if loc and loc[0] in LOCATION_PARTS:
                loc.pop(0)
        errors.append(
            {
                "field": ".".join(loc) or None,
                "code": err.get("type", "invalid"),
                "message": err.get("msg", "Invalid value."),
            }
        )
    return _errors(request, 422, errors)


@api.exception_handler(DjangoValidationError)
def on_django_validation(request, exc):
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": None if field == "__all__" else field, "code": "invalid", "message": msg}
            for field, messages in exc.message_dict.items()
            for msg in messages
        ]
    else:
        errors = [{"field": None, "code": "invalid", "message": m} for m in exc.messages]
    return _errors(request, 422, errors)


@api.exception_handler(NotFound)
def on_not_found(request, exc):
    return _errors(request, 404, exc.as_errors())


@api.exception_handler(Http404)
def on_http404(request, exc):
    return _errors(request, 404, [{"field": None, "code": "not_found", "message": "Not found."}])


@api.exception_handler(PermissionDenied)
def on_permission(request, exc):
    return _errors(request, 403, exc.as_errors())


@api.exception_handler(DomainError)
def on_domain(request, exc):
    return _errors(request, 409, exc.as_errors())


@api.exception_handler(AuthenticationError)
def on_auth(request, exc):
    return _errors(
        request,
        401,
        [{"field": None, "code": "unauthenticated", "message": "Sign in or send a valid token."}],
    )


@api.exception_handler(HttpError)
def on_http_error(request, exc):
    if isinstance(exc.__cause__, NulCharacterError):
        field = ".".join(str(p) for p in exc.__cause__.path) or None
        return _errors(
            request,
            422,
            [
                {
                    "field": field,
                    "code": "null_character",
                    "message": "Text must not contain NUL characters.",
                }
            ],
        )
    return _errors(
        request, exc.status_code, [{"field": None, "code": "error", "message": str(exc)}]
    )


@api.exception_handler(RequestDataTooBig)
def on_too_large(request, exc):
    # Bodies with a Content-Length over the limit stop at core.BodySizeMiddleware; this is
    # the rest (form fields inside a multipart body).
    return _errors(
        request,
        413,
        [{"field": None, "code": "too_large", "message": "The request body is too large."}],
    )


@api.exception_handler(Exception)
def on_unexpected(request, exc):
    logger.exception("api.unexpected_error", extra={"request_id": request.request_id})
    return _errors(
        request,
        500,
        [{"field": None, "code": "server_error", "message": "Unexpected error; it was logged."}],
    )


from kapflow.accounts.api import router as accounts_router  # noqa: E402
from kapflow.alerts.api import router as alerts_router  # noqa: E402
from kapflow.amendments.api import router as amendments_router  # noqa: E402
from kapflow.assessments.api import router as assessments_router  # noqa: E402
from kapflow.audit.api import router as audit_router  # noqa: E402
from kapflow.billing.api import router as billing_router  # noqa: E402
from kapflow.consents.api import router as consents_router  # noqa: E402
from kapflow.courses.api import router as courses_router  # noqa: E402
from kapflow.directory.api import router as directory_router  # noqa: E402
from kapflow.encounters.api import router as encounters_router  # noqa: E402
from kapflow.journal.api import router as journal_router  # noqa: E402
from kapflow.messaging.api import router as messaging_router  # noqa: E402
from kapflow.notes.api import router as notes_router  # noqa: E402
from kapflow.outcomes.api import router as outcomes_router  # noqa: E402
from kapflow.patients.api import router as patients_router  # noqa: E402
from kapflow.prescriptions.api import router as prescriptions_router  # noqa: E402
from kapflow.scheduling.api import router as scheduling_router  # noqa: E402

api.add_router("/", accounts_router)
api.add_router("/clients", patients_router)
api.add_router("/audit", audit_router)
api.add_router("/courses", courses_router)
api.add_router("/assessments", assessments_router)
api.add_router("/outcomes", outcomes_router)
api.add_router("/prescribing", prescriptions_router)
api.add_router("/consents", consents_router)
api.add_router("/journal", journal_router)
api.add_router("/alerts", alerts_router)
api.add_router("/messages", messaging_router)
api.add_router("/schedule", scheduling_router)
api.add_router("/sessions", encounters_router)
api.add_router("/notes", notes_router)
api.add_router("/amendments", amendments_router)
api.add_router("/directory", directory_router)
api.add_router("/billing", billing_router)
