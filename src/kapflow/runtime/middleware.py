"""Runtime middleware: the health endpoints, and one structured log line per request.

HealthCheckMiddleware sits first: /health/live and /health/ready answer before the security
redirect, sessions, authentication, the audit context and the idle clock run, so a load
balancer's probe costs no session read or write, no audit row, and works over plain HTTP
with whatever Host header it sends. Neither answer names a person or a record.

RequestLogMiddleware, right after RequestIdMiddleware, puts the request id into the logging
context for the whole request (every log line carries it) and writes `http.request` with the
method, the route name (never the path: paths hold ids of records), the status and the time.
"""

import logging
import time

from django.http import JsonResponse

from kapflow.core.context import RequestMeta, reset_request_meta, set_request_meta

logger = logging.getLogger("kapflow.request")

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"


def _health_response(payload: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info.rstrip("/")
        if path == LIVE_PATH and request.method in ("GET", "HEAD"):
            return _health_response({"status": "ok"})
        if path == READY_PATH and request.method in ("GET", "HEAD"):
            from kapflow.runtime.health import readiness

            ready, checks = readiness()
            if not ready:
                failed = sorted(name for name, value in checks.items() if value != "ok")
                logger.warning("health.not_ready", extra={"failed": ",".join(failed)})
            response = _health_response(
                {"status": "ok" if ready else "unavailable", "checks": checks},
                status=200 if ready else 503,
            )
            # Logged above as health.not_ready; Django would add an ERROR line per probe.
            response._has_been_logged = True
            return response
        return self.get_response(request)


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        token = set_request_meta(
            RequestMeta(
                request_id=getattr(request, "request_id", ""),
                client_request_id=getattr(request, "client_request_id", ""),
            )
        )
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            match = getattr(request, "resolver_match", None)
            route = match.view_name if match is not None else ""
            logger.info(
                "http.request",
                extra={
                    "request_id": getattr(request, "request_id", ""),
                    "method": request.method,
                    "route": route[:100],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            reset_request_meta(token)
