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

    def __init__(
        self, reasons: list[Reason], *, explanations: dict[int, tuple[str, str]] | None = None
    ):
        self.reasons = list(reasons)
        # Dosing-gate refusals (decision 0029): reason index -> (who may override it, why the
        # person asking may not), so the answer says what each person would need.
        self.explanations = dict(explanations or {})
        super().__init__(" ".join(r.message for r in self.reasons), code="gate_blocked")

    def explained(self) -> list[dict]:
        """Each reason with `override_by` and `why_not` when the refusal explains them."""
        rows = []
        for i, r in enumerate(self.reasons):
            row = {"code": r.code, "message": r.message, "overridable": r.overridable}
            if i in self.explanations:
                row["override_by"], row["why_not"] = self.explanations[i]
            rows.append(row)
        return rows

    def as_errors(self) -> list[dict]:
        return [{"field": None, **row} for row in self.explained()]
