"""Writes the request's denied-access events (audit_access_denied) once the view has
returned, so a rollback of the view's transaction cannot take them along. Sits after
ActorMiddleware, whose request metadata the rows carry."""

from kapflow.audit.services import denied_scope_flush, denied_scope_open


class DeniedAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = denied_scope_open()
        try:
            return self.get_response(request)
        finally:
            denied_scope_flush(token)
