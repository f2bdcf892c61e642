"""Request metadata for the audit trail, without passing the request through services.

The ActorMiddleware sets it per request; tasks and commands leave it empty. Only technical
metadata lives here (request id, address, user agent, route name), never PHI. The request id
is the server's own; what a caller sent as X-Request-Id is kept apart, as client_request_id.
"""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestMeta:
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    route: str = ""
    client_request_id: str = ""


_EMPTY = RequestMeta()
_meta: ContextVar[RequestMeta | None] = ContextVar("kapflow_request_meta", default=None)


def current_request_meta() -> RequestMeta:
    return _meta.get() or _EMPTY


def set_request_meta(meta: RequestMeta):
    return _meta.set(meta)


def reset_request_meta(token) -> None:
    _meta.reset(token)
