"""Writes the request's denied-access events (audit_access_denied) once the response has been
sent, so a rollback of the view's transaction cannot take them along, and so a probe of an id
that exists elsewhere takes no longer to answer than one of an id that exists nowhere (the
chained INSERT runs after the last byte). Sits after ActorMiddleware, whose request metadata
the rows carry."""

import logging

from kapflow.audit.services import denied_scope_close, denied_scope_open, denied_write

logger = logging.getLogger(__name__)


class DeniedAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = denied_scope_open()
        try:
            response = self.get_response(request)
        except BaseException:
            denied_write(denied_scope_close(token))
            raise
        pending = denied_scope_close(token)
        if pending:
            _write_on_close(response, pending)
        return response


def _write_on_close(response, events) -> None:
    # The WSGI and ASGI servers (and Django's test client) call close() after the body has
    # gone out: the write happens there, before Django's own close (which may drop the
    # database connection).
    close = response.close

    def write_then_close():
        try:
            denied_write(events)
        except Exception:
            logger.exception("audit.denied_write_failed", extra={"events": len(events)})
        finally:
            close()

    response.close = write_then_close
