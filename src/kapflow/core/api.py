"""Helpers for ninja routers: the staff actor, and the error schemas every router declares."""

from ninja import Schema
from pydantic import Field

from kapflow import policy


def staff_actor(request):
    """The acting staff membership, or 404 (a record the path names by id is recorded as
    probed, audit_route_not_found)."""
    from kapflow.audit.services import audit_route_not_found

    actor = getattr(request, "actor", None)
    if not policy.is_staff_actor(actor):
        raise audit_route_not_found(request)
    return actor


# ---- the one error shape every router declares (kapflow.api builds the responses) ------------


class ErrorOut(Schema):
    field: str | None = Field(description="The input at fault: a field name or an item id.")
    code: str
    message: str
    overridable: bool | None = Field(
        None, description="Gate refusals (409): may anyone override this reason?"
    )
    override_by: str | None = Field(
        None,
        description="Dosing-gate refusals: who may override this reason (treating_clinician, "
        "prescriber or nobody; decision 0029).",
    )
    why_not: str | None = Field(
        None, description="Dosing-gate refusals: why the person asking may not override it."
    )


class ErrorsOut(Schema):
    errors: list[ErrorOut]


ERRORS = {403: ErrorsOut, 404: ErrorsOut, 409: ErrorsOut, 422: ErrorsOut}

# Row ids are bigints; a larger number cannot name a row, so it is refused as input.
MAX_ID = 2**63 - 1
