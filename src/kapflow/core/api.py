"""Helpers for ninja routers: the staff actor, and the error schemas every router declares."""

from ninja import Schema
from pydantic import Field

# Re-exported: every app's staff pages and routers import it from here.
from kapflow.core.access import staff_actor as staff_actor

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
