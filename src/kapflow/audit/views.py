"""The practice's audit trail: filter, page, export as CSV; a client's accounting of
disclosures for staff (read, record a disclosure made outside kapflow, print as PDF); and
the page that checks an exported file against the trail.

Every CSV cell goes through csv_safe: e-mail addresses, organisation names and the caller's
request id are typed by people, and a spreadsheet runs a cell that starts with = + - @ as a
formula (OWASP "CSV Injection"). Every file goes out through exports.export_response, which
sends and audits its SHA-256 (decision 0037).
"""

import csv
import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from kapflow import policy
from kapflow.audit import selectors
from kapflow.audit.accounting import client_accounting
from kapflow.audit.exports import export_response, find_exports, parse_digest
from kapflow.audit.forms import AuditFilterForm, DisclosureForm, VerifyForm
from kapflow.audit.pdf import render_accounting
from kapflow.audit.services import audit_record, disclosure_record
from kapflow.core import clock
from kapflow.core.timezones import client_zone, zone
from kapflow.core.views import add_errors, staff_actor

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
    "content_digest",
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
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS).encode()
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
                    e.content_digest,
                ]
            ).encode()

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return export_response(
        actor=actor,
        action="audit.export",
        body=rows(),
        content_type="text/csv; charset=utf-8",
        filename=f"kapflow-audit-{stamp}.csv",
    )


# ---- the accounting of disclosures (HIPAA 164.528; decision 0037) ----------------------------


def _client_for_disclosures(actor, client_id: int):
    from kapflow.patients.selectors import client_get_for_actor

    client = client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    if not policy.can_keep_disclosures(actor, client):
        raise Http404()
    return client


@login_required
@require_http_methods(["GET", "POST"])
def client_disclosures(request, client_id: int):
    """The client's accounting as the client reads it, and the form for a disclosure made
    outside kapflow."""
    actor = staff_actor(request)
    client = _client_for_disclosures(actor, client_id)
    form = DisclosureForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                disclosure_record(actor=actor, client_id=client.pk, data=form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, "Disclosure recorded.")
                return redirect("audit:client_disclosures", client_id=client.pk)
        status = 422
    audit_record(actor=actor, action="disclosure.list", target=client, client_id=client.pk)
    accounting = client_accounting(client=client, zone_name=timezone.get_current_timezone_name())
    return render(
        request,
        "audit/client_disclosures.html",
        {"client": client, "accounting": accounting, "form": form},
        status=status,
    )


@login_required
def client_disclosures_pdf(request, client_id: int):
    """The accounting as a PDF for the client, times in the client's zone (it is theirs)."""
    actor = staff_actor(request)
    client = _client_for_disclosures(actor, client_id)
    zone_name = client_zone(client)
    accounting = client_accounting(client=client, zone_name=zone_name)
    content = render_accounting(
        accounting,
        generated_by=actor.user.full_name or actor.user.email,
        generated_at=clock.now().astimezone(zone(zone_name)),
    )
    return export_response(
        actor=actor,
        action="disclosure.accounting_export",
        body=content,
        content_type="application/pdf",
        filename=f"client-{client.pk}-disclosures.pdf",
        target=client,
        client_id=client.pk,
    )


# ---- checking an exported file (ONC 170.315(d)(8); decision 0037) ----------------------------


@login_required
@require_http_methods(["GET", "POST"])
def export_verify(request):
    """Hash a file (or take a pasted SHA-256) and say whether kapflow produced it: the export
    events of this practice's trail with that digest, and whether each event is intact."""
    actor = staff_actor(request)
    if not policy.can_view_audit(actor):
        raise Http404()
    form = VerifyForm(request.POST or None, request.FILES or None)
    result = None
    status = 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("file")
        if upload is not None:
            hasher = hashlib.sha256()
            for chunk in upload.chunks():
                hasher.update(chunk)
            hex_digest = hasher.hexdigest()
        else:
            hex_digest = parse_digest(form.cleaned_data.get("digest", ""))
        if hex_digest is None:
            form.add_error("digest", "Choose the file, or paste its SHA-256 (64 hex digits).")
            status = 422
        else:
            from kapflow.audit.chain import event_intact
            from kapflow.audit.exports import repr_digest

            matches = find_exports(hex_digest=hex_digest, events=selectors.audit_list(actor=actor))
            audit_record(actor=actor, action="audit.export_verify")
            result = {
                "hex": hex_digest,
                "repr": repr_digest(hex_digest),
                "matches": [(event, event_intact(event)) for event in matches],
            }
    elif request.method == "POST":
        status = 422
    recent = selectors.audit_list(actor=actor).exclude(content_digest="")[:20]
    return render(
        request,
        "audit/export_verify.html",
        {"form": form, "result": result, "recent": recent},
        status=status,
    )
