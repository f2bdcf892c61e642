"""Outcomes pages: a client's scores over time (staff), the client's own (portal), and the
practice's de-identified report with its CSV export. Thin: selectors decide who sees what;
charts are drawn by outcomes.charts."""

import csv
from io import StringIO

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from kapflow import policy
from kapflow.audit.exports import export_response
from kapflow.core.views import staff_actor
from kapflow.outcomes import charts, selectors
from kapflow.outcomes.forms import PracticeReportForm
from kapflow.outcomes.templatetags.outcomes import one_dp, percent

BASELINE_NOTES = {
    "before_first_dosing": "the last score before the first dosing session",
    "first_score": "the first score",
}


def _svg(series: selectors.Series, dosings) -> str:
    # The chart labels days as the page's table does: in the viewer's zone, not UTC.
    local = timezone.localtime
    chart = charts.outcome_chart(
        id=f"chart-{series.instrument.code}",
        instrument=series.instrument,
        scores=[(local(s.at), s.total, s.band) for s in series.scores],
        dosings=[local(d) for d in dosings],
        baseline=series.baseline.total,
        baseline_note=BASELINE_NOTES[series.baseline_rule],
        response_threshold=series.response_threshold,
    )
    return charts.render(chart)


def _context(outcomes: selectors.ClientOutcomes) -> dict:
    # The SVG builder escapes every piece of text it writes, so its output is marked safe.
    return {
        "client": outcomes.client,
        "dosings": outcomes.dosings,
        "panels": [
            {
                "series": series,
                "svg": mark_safe(_svg(series, outcomes.dosings)),  # noqa: S308
                "baseline_note": BASELINE_NOTES[series.baseline_rule],
            }
            for series in outcomes.series
        ],
    }


@login_required
def client_outcomes(request, client_id: int):
    actor = staff_actor(request)
    outcomes = selectors.client_outcomes(actor=actor, client_id=client_id)
    return render(request, "outcomes/client.html", _context(outcomes))


@login_required
def own_outcomes(request):
    outcomes = selectors.own_outcomes(actor=request.actor)
    return render(request, "outcomes/mine.html", _context(outcomes))


def _report(request, audit_action: str):
    actor = staff_actor(request)
    if not policy.can_view_practice_outcomes(actor):
        raise Http404()
    form = PracticeReportForm(request.GET)
    if not form.is_valid():
        return form, None
    report = selectors.practice_outcomes(
        actor=actor,
        instrument=form.cleaned_data["instrument"],
        group_by=form.cleaned_data["group_by"],
        audit_action=audit_action,
    )
    return form, report


@login_required
def practice_outcomes(request):
    form, report = _report(request, "outcomes.practice_view")
    context = {"form": form, "report": report}
    status = 200 if report is not None else 422
    if request.htmx and request.htmx.target == "outcome-results":
        return render(request, "outcomes/_practice_table.html", context, status=status)
    return render(request, "outcomes/practice.html", context, status=status)


CSV_COLUMNS = [
    "instrument", "group_by", "group", "suppressed", "suppression_reason", "clients",
    "mean_baseline", "mean_latest", "mean_change", "mean_change_ci_low", "mean_change_ci_high",
    "response_clients", "response_pct", "response_ci_low_pct", "response_ci_high_pct",
    "remission_pct", "remission_ci_low_pct", "remission_ci_high_pct",
]  # fmt: skip
REASONS = {"small": "fewer than 11 clients", "complementary": "protects a smaller group"}


def _text(value: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(report: selectors.PracticeReport) -> list[list[str]]:
    """The report as CSV rows, header first: the same figures as the page, suppressed cells
    blank. No client names or ids: groups are labelled by their value (or therapist name)."""
    rows = [CSV_COLUMNS]
    for row in report.rows:
        change, response, remission = row.change, row.response, row.remission
        rows.append(
            [
                report.instrument.code,
                report.group_by,
                _text(row.label),
                "true" if row.suppressed else "false",
                REASONS.get(row.hidden, ""),
                "" if row.n is None else str(row.n),
                one_dp(row.mean_baseline),
                one_dp(row.mean_latest),
                one_dp(change.mean if change else None),
                one_dp(change.low if change else None),
                one_dp(change.high if change else None),
                "" if response is None else str(response.n),
                percent(response.p if response else None),
                percent(response.low if response else None),
                percent(response.high if response else None),
                percent(remission.p if remission else None),
                percent(remission.low if remission else None),
                percent(remission.high if remission else None),
            ]
        )
    return rows


@login_required
def practice_outcomes_csv(request):
    _form, report = _report(request, "")
    if report is None:
        return HttpResponse(
            "Choose a questionnaire and a grouping from the lists.",
            status=422,
            content_type="text/plain",
        )
    buffer = StringIO()
    csv.writer(buffer).writerows(csv_rows(report))
    stamp = timezone.now().strftime("%Y%m%d")
    return export_response(
        actor=staff_actor(request),
        action="outcomes.practice_export",
        body=buffer.getvalue().encode(),
        content_type="text/csv; charset=utf-8",
        filename=f"kapflow-outcomes-{report.instrument.code}-{report.group_by}-{stamp}.csv",
    )
