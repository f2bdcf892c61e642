"""The staff gate every staff page and router passes: the acting staff membership, or 404.

core may not import the apps above it (.importlinter), yet the gate needs two answers they
own: whether an actor is staff (kapflow.policy.is_staff_actor) and the NotFound that records
a probed record id as a denied access (kapflow.audit.services.audit_route_not_found). The
audit app registers both when Django starts (AuditConfig.ready), so core names neither.
"""

from django.core.exceptions import ImproperlyConfigured

_gate: dict = {}


def register_staff_gate(*, is_staff, refuse) -> None:
    """Set the staff question (actor -> bool) and the refusal (request -> exception to raise)."""
    _gate["is_staff"], _gate["refuse"] = is_staff, refuse


def staff_actor(request):
    """The acting staff membership, or 404: clients and companions never reach staff pages or
    endpoints (a record the path names by id is recorded as probed)."""
    if not _gate:
        raise ImproperlyConfigured("No staff gate registered: is kapflow.audit installed?")
    actor = getattr(request, "actor", None)
    if not _gate["is_staff"](actor):
        raise _gate["refuse"](request)
    return actor
