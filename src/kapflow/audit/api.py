"""The audit trail for practice admins."""

from datetime import date, datetime
from typing import Literal

from ninja import Query, Router, Schema
from pydantic import Field

from kapflow.audit import selectors
from kapflow.core.api import ErrorsOut, staff_actor

router = Router(tags=["audit"])


class AuditFilter(Schema):
    actor: int | None = Field(None, ge=1)
    kind: Literal["auth.", "mfa.", "access.denied", "breakglass."] | None = Field(
        None, description="Sign-in events, MFA events, denied access or emergency access."
    )
    action: str | None = Field(None, max_length=60)
    client: int | None = Field(None, ge=1)
    since: date | None = None
    until: date | None = None
    page: int = Field(1, ge=1, le=100000)


class AuditOut(Schema):
    id: int
    at: datetime
    actor_id: int | None
    organisation_id: int | None
    action: str
    target_type: str
    target_id: int | None
    client_id: int | None
    changed_fields: list[str]
    record_organisation_id: int | None
    route: str
    request_id: str
    client_request_id: str
    content_digest: str = Field(
        "", description="SHA-256 (hex) of the file an export event produced, else empty."
    )


class AuditPage(Schema):
    count: int
    page: int
    results: list[AuditOut]


PAGE = 100


@router.get("", response={200: AuditPage, 404: ErrorsOut, 422: ErrorsOut})
def audit_list(request, filters: Query[AuditFilter]):
    actor = staff_actor(request)
    data = filters.dict()
    qs = selectors.audit_list(actor=actor, filters=data)
    start = (data["page"] - 1) * PAGE
    return {"count": qs.count(), "page": data["page"], "results": list(qs[start : start + PAGE])}
