"""Domain errors shared by every app.

A DomainError carries a stable machine `code`, a plain-words `message` and, when one input is
at fault, the `field`. Messages never contain PHI: they name fields and rules, not values.
The API maps these to JSON (see kapflow.api); pages show them beside the fields.
"""

from kapflow.clinical.reasons import Reason


class DomainError(Exception):
    """A request that is well-formed but not allowed by the rules (HTTP 409)."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field

    def as_errors(self) -> list[dict]:
        return [{"field": self.field, "code": self.code, "message": self.message}]


class NotFound(DomainError):
    """Missing or not yours: both answer the same, so existence does not leak (HTTP 404)."""

    code = "not_found"

    def __init__(self, message: str = "Not found.", **kwargs):
        super().__init__(message, **kwargs)


class PermissionDenied(DomainError):
    """The actor may see the object but may not do this to it (HTTP 403)."""

    code = "permission_denied"


class GateBlocked(DomainError):
    """A transition refused by one or more rules; every failing reason is listed (HTTP 409)."""

    code = "gate_blocked"

    def __init__(self, reasons: list[Reason]):
        self.reasons = list(reasons)
        super().__init__(" ".join(r.message for r in self.reasons), code="gate_blocked")

    def as_errors(self) -> list[dict]:
        return [
            {"field": None, "code": r.code, "message": r.message, "overridable": r.overridable}
            for r in self.reasons
        ]
