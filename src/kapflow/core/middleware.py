"""Cross-cutting request handling: request ids, body size, idle logoff, content security
policy, and the API's JSON 404."""

import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect

IDLE_KEY = "kapflow_last_seen"
API_PREFIX = "/api/"


CLIENT_REQUEST_ID_MAX = 64


def client_request_id(value: str) -> str:
    """A caller's X-Request-Id as kept beside the server's: printable ASCII, at most 64
    characters. It may still read as a formula; exports escape it (audit.views.csv_safe)."""
    printable = "".join(ch for ch in value[:1024] if " " <= ch <= "~")
    return printable.strip()[:CLIENT_REQUEST_ID_MAX]


class RequestIdMiddleware:
    """Tags each request with an id that audit rows and logs share.

    The id is always made here: a caller-chosen id would let anyone forge or collide audit
    rows. What the caller sent is kept as request.client_request_id, for correlation only.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4().hex
        request.client_request_id = client_request_id(request.headers.get("X-Request-Id", ""))
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


def api_error(status: int, code: str, message: str) -> JsonResponse:
    """The API's one error shape (kapflow.api), for answers given before Ninja runs."""
    return JsonResponse(
        {"errors": [{"field": None, "code": code, "message": message}]}, status=status
    )


def too_large_response(request) -> HttpResponse:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    message = f"The request body is too large (the limit is {limit_mb:g} MB)."
    if request.path_info.startswith(API_PREFIX):
        return api_error(413, "too_large", message)
    return HttpResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Request too large'
        f"</title><h1>Request too large</h1><p>{message} Go back and send less.</p></html>",
        status=413,
    )


class BodySizeMiddleware:
    """413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, before anything reads it.

    Django raises RequestDataTooBig when such a body is read; pages turned it into a 400 and
    the API's catch-all into a 500. The Content-Length check here is the one Django makes.
    multipart/form-data is let through: its files do not count against the limit (messaging
    attachments are checked by size in their form), but its text fields do. For pages,
    process_view parses such a body before the CSRF check would (that check turned the error
    into a 400); views and the API's handler answer the rest with 413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if (
            limit is not None
            and request.content_type != "multipart/form-data"
            and _content_length(request) > limit
        ):
            return too_large_response(request)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and not request.path_info.startswith(API_PREFIX)
        ):
            try:
                request.POST  # noqa: B018 (parsed here so the limit is met here)
            except RequestDataTooBig:
                return too_large_response(request)
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(request)
        return None


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class IdleLogoutMiddleware:
    """Automatic logoff after a configurable idle time (HIPAA 164.312(a)(2)(iii)).

    The clock lives in the signed-in session; any request refreshes it. An expired session is
    ended server-side, not just hidden.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            idle_limit = settings.KAPFLOW_IDLE_TIMEOUT_MINUTES * 60
            last_seen = request.session.get(IDLE_KEY)
            if last_seen is not None and now - last_seen > idle_limit:
                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                messages.info(request, "You were signed out after a period of inactivity.")
                return redirect(settings.LOGIN_URL)
            request.session[IDLE_KEY] = now
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Every asset is served from our own origin, so the policy can be strict."""

    POLICY = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", self.POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if not request.path.startswith(
            settings.STATIC_URL
            if settings.STATIC_URL.startswith("/")
            else "/" + settings.STATIC_URL
        ):
            # Pages carry PHI: no shared or back-button caches.
            response.setdefault("Cache-Control", "no-store")
        return response


class NotFoundMiddleware:
    """Turns kapflow's NotFound (missing or not yours) into Django's 404 for pages, and
    PermissionDenied (visible but not yours to change) into 403.

    Under /api/ every 404 is the API's JSON error shape: a path that no route matches (a
    non-integer id, an unknown operation) never reaches Ninja and got Django's HTML page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path_info.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return api_error(404, "not_found", "Not found.")
        return response

    def process_exception(self, request, exception):
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
        from django.http import Http404

        from kapflow.core.errors import NotFound, PermissionDenied

        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, PermissionDenied):
            raise DjangoPermissionDenied(exception.message)
        return None
