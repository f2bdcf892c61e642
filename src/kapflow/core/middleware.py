"""Cross-cutting request handling: request ids, idle logoff, content security policy."""

import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect

IDLE_KEY = "kapflow_last_seen"


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
    PermissionDenied (visible but not yours to change) into 403."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
        from django.http import Http404

        from kapflow.core.errors import NotFound, PermissionDenied

        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, PermissionDenied):
            raise DjangoPermissionDenied(exception.message)
        return None
