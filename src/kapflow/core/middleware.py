"""Cross-cutting request handling: request ids, body size, idle logoff, content security
policy, and the API's JSON 404."""

import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, resolve_url

IDLE_KEY = "kapflow_last_seen"
# The idle clock moves in steps of this many seconds: a request within a step of the stored
# time leaves the session unchanged, so reads do not write the session (decision 0042). The
# clock can only lag, so a session ends up to one step early, never late.
IDLE_CLOCK_STEP_SECONDS = 60
SIGNED_IN_KEY = "kapflow_signed_in_at"
# Sent by the elements that refresh themselves (hx-trigger="every ..."), through
# hx-headers='{"X-Kapflow-Poll": "1"}': such a request is not something a person did.
POLL_HEADER = "X-Kapflow-Poll"
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
        # A csrf_exempt view parses its own body (messaging sets upload handlers first, which
        # must happen before anything reads request.POST); process_exception still answers it.
        if (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and not request.path_info.startswith(API_PREFIX)
            and not getattr(view_func, "csrf_exempt", False)
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


def session_clock_start(sender, request, user, **kwargs):
    """On sign-in (user_logged_in): start both clocks, so the first request is checked too."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_KEY] = now
        request.session[IDLE_KEY] = now


def is_poll(request) -> bool:
    """A screen refreshing itself: a GET sent with the poll header. Anything else, a POST
    from inside a polling element included, is what a person did."""
    return request.method in ("GET", "HEAD") and request.headers.get(POLL_HEADER) == "1"


class IdleLogoutMiddleware:
    """Automatic logoff (HIPAA 164.312(a)(2)(iii)).

    Two clocks live in the signed-in session, both started at sign-in (session_clock_start):
    the idle clock, moved only by what a person does (polls are checked but never move it)
    and at most once per IDLE_CLOCK_STEP_SECONDS, and the sign-in time, which never moves:
    SESSION_COOKIE_AGE after it the session ends however busy it was. A session without the
    clocks (made before they existed) is ended. An ended session is ended server-side, not
    just hidden.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(IDLE_KEY)
            signed_in_at = request.session.get(SIGNED_IN_KEY)
            if last_seen is None or signed_in_at is None:
                reason = "Please sign in again."
            elif now - signed_in_at > settings.SESSION_COOKIE_AGE:
                hours = settings.SESSION_COOKIE_AGE / 3600
                reason = f"You were signed out: sessions last at most {hours:g} hours."
            elif now - last_seen > settings.KAPFLOW_IDLE_TIMEOUT_MINUTES * 60:
                reason = "You were signed out after a period of inactivity."
            else:
                reason = None
            if reason is not None:
                return self._signed_out(request, reason)
            # A tenth of the timeout at most, so a short timeout is not eaten by the step.
            step = min(IDLE_CLOCK_STEP_SECONDS, settings.KAPFLOW_IDLE_TIMEOUT_MINUTES * 6)
            if not is_poll(request) and now - last_seen >= step:
                request.session[IDLE_KEY] = now
        return self.get_response(request)

    def _signed_out(self, request, reason: str):
        logout(request)
        if request.path.startswith(API_PREFIX):
            return self.get_response(request)
        messages.info(request, reason)
        if request.headers.get("HX-Request") == "true":
            # htmx would swap the sign-in page into the polled element; load it as a page.
            response = HttpResponse(status=200)
            response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
            return response
        return redirect(settings.LOGIN_URL)


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
