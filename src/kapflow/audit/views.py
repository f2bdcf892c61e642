"""The practice's audit trail: filter, page, export as CSV.

Every CSV cell goes through csv_safe: e-mail addresses, organisation names and the caller's
request id are typed by people, and a spreadsheet runs a cell that starts with = + - @ as a
formula (OWASP "CSV Injection").
"""

import csv

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from kapflow.audit import selectors
from kapflow.audit.forms import AuditFilterForm
from kapflow.audit.services import audit_record
from kapflow.core.views import staff_actor

CSV_COLUMNS = [
    "at",
    "actor_id",
    "actor_email",
    "organisation",
    "action",
    "target_type",
    "target_id",
    "client_id",
    "changed_fields",
    "route",
    "ip_address",
    "request_id",
    "client_request_id",
    "record_organisation_id",
]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """The cell as text, with a leading single quote if a spreadsheet would read a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@login_required
def audit_list(request):
    actor = staff_actor(request)
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_list(actor=actor, filters=filters)
    page = Paginator(events, 50).get_page(filters.get("page") or 1)
    return render(
        request,
        "audit/audit_list.html",
        {"form": form, "page": page, "check": selectors.audit_check_latest()},
    )


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_export(request):
    actor = staff_actor(request)
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_list(actor=actor, filters=filters)
    audit_record(actor=actor, action="audit.export")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for e in events.iterator(chunk_size=2000):
            yield writer.writerow(
                csv_safe(cell)
                for cell in [
                    e.at.isoformat(),
                    e.actor_id or "",
                    e.actor.email if e.actor_id and e.actor else "",
                    e.organisation.name if e.organisation_id and e.organisation else "",
                    e.action,
                    e.target_type,
                    e.target_id or "",
                    e.client_id or "",
                    " ".join(e.changed_fields or []),
                    e.route,
                    e.ip_address or "",
                    e.request_id,
                    e.client_request_id,
                    e.record_organisation_id or "",
                ]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="kapflow-audit-{stamp}.csv"'
    return response
