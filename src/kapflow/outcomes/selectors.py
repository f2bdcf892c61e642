"""Read paths for outcomes: a client's score series (staff page, portal, API) and the
practice's de-identified aggregate report (page, CSV, API).

A client's series reads the current responses of kapflow.assessments (submitted and not
replaced by a correction, as `assessments.selectors.current_responses`) and the dosing
sessions on the course timeline. The practice report reads the stored OutcomeSummary rows
(decision 0043), which `computed_summaries` here defines and outcomes.services keeps current;
it writes only audit rows. Change rules (response, remission) come from
kapflow.clinical.instruments; interval arithmetic from outcomes.stats.

Query counts are fixed: a client's series is one query for the client (through the policy's
queryset), one for the responses, one for the dosing dates and the audit INSERT, whatever the
number of scores; the practice report is one aggregate query over the summaries (plus one for
therapists' names when grouped by therapist) and the audit INSERT, whatever the size of the
practice.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Cast

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.assessments.models import Response
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import instruments
from kapflow.clinical.instruments import Instrument
from kapflow.core.errors import NotFound
from kapflow.core.replica import report_db
from kapflow.courses.models import (
    CONDITION_CHOICES,
    DELIVERY_CHOICES,
    PATHWAY_CHOICES,
    Course,
    CourseEvent,
    EventKind,
)
from kapflow.outcomes import stats
from kapflow.outcomes.models import OutcomeSummary
from kapflow.patients.models import Client
from kapflow.patients.selectors import own_client_record

# Instruments the practice report offers: symptom scales whose totals can be averaged. The
# C-SSRS screener (a risk category) and the in-session CADSS are charted per client only.
PRACTICE_INSTRUMENTS = ("phq9", "gad7", "pcl5")
GROUPINGS = ("all", "pathway", "delivery", "condition", "therapist")
GROUPING_LABELS = {
    "pathway": "Pathway",
    "delivery": "Delivery",
    "condition": "Condition",
    "therapist": "Therapist",
    "all": "All clients",
}
# The summary column each grouping reads (a copy of the client's most recent course's field).
GROUP_FIELDS = {
    "pathway": "pathway",
    "delivery": "delivery",
    "condition": "condition",
    "therapist": "therapist_id",
}
GROUP_CHOICES = {
    "pathway": PATHWAY_CHOICES,
    "delivery": DELIVERY_CHOICES,
    "condition": CONDITION_CHOICES,
}
NO_COURSE = "none"
NO_COURSE_LABEL = "No course recorded"
BATCH = 2000  # clients per step when a whole practice's summaries are computed


def current_scores(qs: QuerySet) -> QuerySet:
    """The same rows as assessments.selectors.current_responses (submitted, and not replaced
    by a correction; a test holds the two equal), with "not replaced" written as NOT EXISTS.
    current_responses joins the correction (LEFT JOIN ... IS NULL), which PostgreSQL may plan
    inside a per-client subquery as a merge join over the whole corrections index: 150 ms
    instead of 30 ms for a practice of 2,000 clients. NOT EXISTS is one index probe per row."""
    corrections = Response.objects.filter(corrects=OuterRef("pk"))
    return qs.filter(submitted_at__isnull=False).filter(~Exists(corrections))


# ---- one client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    response_id: int
    at: datetime
    total: int
    band: str
    corrected: bool  # this row corrects an earlier entry of the same administration
    flagged: bool = False  # raised a safety flag (e.g. PHQ-9 item 9)


@dataclass(frozen=True)
class Series:
    """One instrument's scores for one client, oldest first, and what they mean.

    Baseline: the last score before the client's first dosing session when there is one
    ("before_first_dosing"), otherwise the first score ("first_score"). Change, response and
    remission compare the latest score with the baseline, and are None until there is a score
    after the baseline (and where the instrument defines no such rule).
    """

    instrument: Instrument
    scores: tuple[Score, ...]
    baseline: Score
    baseline_rule: str
    latest: Score
    followed_up: bool
    change: int | None
    response: bool | None
    remission: bool | None
    response_threshold: float | None


def summarise(instrument: Instrument, scores: list[Score], dosings: list[datetime]) -> Series:
    """The series for `scores` (at least one, any order) given the client's dosing times."""
    if not scores:
        raise ValueError("a series needs at least one score")
    ordered = tuple(sorted(scores, key=lambda s: (s.at, s.response_id)))
    baseline, rule = ordered[0], "first_score"
    if dosings:
        first_dosing = min(dosings)
        before = [s for s in ordered if s.at < first_dosing]
        if before:
            baseline, rule = before[-1], "before_first_dosing"
    latest = ordered[-1]
    followed_up = ordered.index(baseline) < len(ordered) - 1
    threshold = None
    if instrument.response_drop is not None and baseline.total > 0:
        drop = baseline.total * instrument.response_drop
        threshold = baseline.total - drop if instrument.higher_is_worse else baseline.total + drop
    return Series(
        instrument=instrument,
        scores=ordered,
        baseline=baseline,
        baseline_rule=rule,
        latest=latest,
        followed_up=followed_up,
        change=(
            instruments.change_from_baseline(baseline.total, latest.total) if followed_up else None
        ),
        response=(
            instruments.is_response(instrument, baseline.total, latest.total)
            if followed_up
            else None
        ),
        remission=instruments.is_remission(instrument, latest.total) if followed_up else None,
        response_threshold=threshold,
    )


@dataclass(frozen=True)
class ClientOutcomes:
    client: Client
    series: list[Series]  # in REGISTRY order
    dosings: list[datetime]  # oldest first


def _client_outcomes(client: Client, instrument: str | None) -> ClientOutcomes:
    responses = current_scores(Response.objects.for_org(client.organisation_id)).filter(
        client=client
    )
    if instrument:
        responses = responses.filter(instrument=instrument)
    rows = responses.order_by("instrument", "submitted_at", "id").values_list(
        "id", "instrument", "submitted_at", "total", "band", "corrects_id", "safety_flags"
    )
    dosings = list(
        CourseEvent.objects.for_org(client.organisation_id)
        .filter(course__client=client, kind=EventKind.DOSING)
        .order_by("occurred_at", "id")
        .values_list("occurred_at", flat=True)
    )
    by_instrument: dict[str, list[Score]] = {}
    for pk, code, at, total, band, corrects_id, flags in rows:
        by_instrument.setdefault(code, []).append(
            Score(pk, at, total, band, corrects_id is not None, bool(flags))
        )
    series = [
        summarise(inst, by_instrument[code], dosings)
        for code, inst in instruments.REGISTRY.items()
        if code in by_instrument
    ]
    return ClientOutcomes(client=client, series=series, dosings=dosings)


def client_outcomes(*, actor, client_id: int, instrument: str | None = None) -> ClientOutcomes:
    """A client's score series for staff: clinicians on the care team (including a partner
    prescriber the client was referred to) and the practice's admins. Anyone else, and any
    other organisation's client, gets NotFound. Audited as "outcomes.client_view"."""
    client = policy.clients_queryset(actor).filter(pk=client_id).first()
    if client is None or not policy.can_see_scores(actor, client):
        raise audit_not_found(
            actor=actor, model=Client, object_id=client_id, message="Client not found."
        )
    audit_record(actor=actor, action="outcomes.client_view", target=client, client_id=client.pk)
    return _client_outcomes(client, instrument)


def own_outcomes(*, actor) -> ClientOutcomes:
    """The signed-in client's own series (portal). NotFound for anyone but a client with a
    record. Audited as "outcomes.own_view", so it shows in their access report."""
    if not policy.is_client_actor(actor):
        raise NotFound()
    client = own_client_record(user=actor.user)
    if client is None or client.organisation_id != actor.organisation_id:
        raise NotFound()
    audit_record(actor=actor, action="outcomes.own_view", target=client, client_id=client.pk)
    return _client_outcomes(client, None)


# ---- the practice ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRow:
    """One group of the report. When `hidden` is set ("small": fewer than stats.MIN_CELL
    clients; "complementary": hidden so that a small group cannot be worked out from the
    total) every number is None, n included."""

    key: str
    label: str
    hidden: str
    n: int | None = None
    mean_baseline: float | None = None
    mean_latest: float | None = None
    change: stats.MeanCI | None = None
    response: stats.Proportion | None = None
    remission: stats.Proportion | None = None
    response_hidden: bool = False  # its denominator (baseline above 0) is a small cell

    @property
    def suppressed(self) -> bool:
        return bool(self.hidden)


@dataclass(frozen=True)
class PracticeReport:
    instrument: Instrument
    group_by: str
    rows: list[GroupRow]

    @property
    def defines_response(self) -> bool:
        return self.instrument.response_drop is not None

    @property
    def defines_remission(self) -> bool:
        return self.instrument.remission_max is not None

    @property
    def group_label(self) -> str:
        return GROUPING_LABELS[self.group_by]


# ---- the stored summaries ---------------------------------------------------------------------


def computed_summaries(client_organisations: dict[int, int]) -> list[OutcomeSummary]:
    """The summaries, unsaved, of the clients given as {client id: organisation id}, computed
    from their rows: one per client and instrument with at least one current score. Two
    queries whatever the number of clients (their current scores, their courses)."""
    if not client_organisations:
        return []
    ids = list(client_organisations)
    scores = (
        current_scores(Response.objects.filter(client_id__in=ids))
        .order_by("client_id", "instrument", "submitted_at", "id")
        .values_list("client_id", "organisation_id", "instrument", "id", "submitted_at", "total")
    )
    series: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for client_id, org_id, code, pk, at, total in scores:
        # The report reads a practice's own rows only: a response is the client's organisation's.
        if org_id == client_organisations[client_id]:
            series[(client_id, code)].append((pk, at, total))
    latest_course: dict[int, tuple] = {}
    courses = (
        Course.objects.filter(client_id__in=ids)
        .order_by("client_id", "opened_at", "id")
        .values_list("client_id", "organisation_id", "pathway", "delivery", "condition",
                     "therapist_id")
    )  # fmt: skip
    for client_id, org_id, *course in courses:
        if org_id == client_organisations[client_id]:
            latest_course[client_id] = tuple(course)  # ascending: the last one wins
    summaries = []
    for (client_id, code), rows in series.items():
        instrument = instruments.REGISTRY.get(code)
        if instrument is None:
            continue
        (first_id, first_at, first), (last_id, last_at, last) = rows[0], rows[-1]
        followed_up = len(rows) >= 2
        pathway, delivery, condition, therapist_id = latest_course.get(client_id, (None,) * 4)
        summaries.append(
            OutcomeSummary(
                organisation_id=client_organisations[client_id],
                client_id=client_id,
                instrument=code,
                scores=len(rows),
                baseline_response_id=first_id,
                baseline_at=first_at,
                baseline_total=first,
                latest_response_id=last_id,
                latest_at=last_at,
                latest_total=last,
                change=instruments.change_from_baseline(first, last) if followed_up else None,
                response=instruments.is_response(instrument, first, last) if followed_up else None,
                remission=instruments.is_remission(instrument, last) if followed_up else None,
                pathway=pathway,
                delivery=delivery,
                condition=condition,
                therapist_id=therapist_id,
            )
        )
    return summaries


SUMMARY_FIELDS = [
    "organisation_id", "scores", "baseline_response_id", "baseline_at", "baseline_total",
    "latest_response_id", "latest_at", "latest_total", "change", "response", "remission",
    "pathway", "delivery", "condition", "therapist_id",
]  # fmt: skip


def outcome_summaries_drift(*, organisation_id: int) -> dict[tuple[int, str], list[str]]:
    """Where the organisation's stored summaries differ from what its rows give now:
    {(client id, instrument): [the differing fields, or "missing" / "extra"]}. Empty when
    every stored row is exact. For `kapflow refresh_outcomes --check` and the tests; reads the
    whole practice in BATCH-client steps."""
    drift: dict[tuple[int, str], list[str]] = {}
    clients = Client.objects.filter(organisation_id=organisation_id).order_by("pk")
    last = 0
    while True:
        batch = dict(clients.filter(pk__gt=last).values_list("pk", "organisation_id")[:BATCH])
        if not batch:
            break
        fresh = {(s.client_id, s.instrument): s for s in computed_summaries(batch)}
        stored = {
            (s.client_id, s.instrument): s
            for s in OutcomeSummary.objects.filter(client_id__in=list(batch))
        }
        for key in fresh.keys() | stored.keys():
            if key not in stored:
                drift[key] = ["missing"]
            elif key not in fresh:
                drift[key] = ["extra"]
            else:
                differ = [
                    f for f in SUMMARY_FIELDS
                    if getattr(stored[key], f) != getattr(fresh[key], f)
                ]  # fmt: skip
                if differ:
                    drift[key] = differ
        last = max(batch)
    return drift


# ---- the practice report ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSums:
    """What the database returns for one group (integers, exact)."""

    key: object
    n: int
    sum_baseline: int
    sum_latest: int
    sum_change: int
    sum_change_sq: int
    response_n: int
    responders: int
    remitters: int


def practice_sums(*, organisation_id: int, instrument: Instrument, group_by: str):
    """The per-group sums, in one query over the stored summaries (decision 0043): clients
    with two or more current scores of the instrument, grouped by the summary's copy of their
    most recent course's field. The same numbers the report once computed from every response
    on each view (tests/outcomes/oracle.py keeps that computation and a test holds the two
    equal). Response and remission are counted from the stored flags, which
    clinical.instruments set; the response denominator is the baseline above 0. A report:
    read from the replica when there is one (decision 0044)."""
    rows = (
        OutcomeSummary.objects.using(report_db(OutcomeSummary))
        .for_org(organisation_id)
        .filter(instrument=instrument.code, scores__gte=2)
    )
    sums = {
        "n": Count("pk"),
        "sum_baseline": Sum("baseline_total"),
        "sum_latest": Sum("latest_total"),
        "sum_change": Sum("change"),
        # Cast: on PostgreSQL smallint x smallint is a smallint, which a wide scale overflows.
        "sum_change_sq": Sum(Cast("change", IntegerField()) * Cast("change", IntegerField())),
        "response_n": Count("pk", filter=Q(baseline_total__gt=0)),
        "responders": Count("pk", filter=Q(response=True)),
        "remitters": Count("pk", filter=Q(remission=True)),
    }
    if group_by == "all":
        totals = rows.aggregate(**sums)
        # As GROUP BY gave: no group at all when no client counts.
        found = [("all", totals)] if totals["n"] else []
    else:
        field = GROUP_FIELDS[group_by]
        grouped = rows.order_by().values(field).annotate(**sums)
        found = [(row.pop(field), row) for row in grouped]
    return [GroupSums(key, *(int(values[name] or 0) for name in sums)) for key, values in found]


def _labels(group_by: str, keys: list) -> dict:
    if group_by == "all":
        return {"all": "All clients"}
    if group_by == "therapist":
        therapists = Membership.objects.filter(pk__in=[k for k in keys if k is not None])
        return {
            m.pk: m.user.full_name or f"Therapist {n}"
            for n, m in enumerate(therapists.select_related("user").order_by("pk"), start=1)
        }
    return dict(GROUP_CHOICES[group_by])


def _order(group_by: str, labels: dict, key) -> tuple:
    if key is None:
        return (1, 0, "")
    if group_by in GROUP_CHOICES:
        keys = [k for k, _ in GROUP_CHOICES[group_by]]
        return (0, keys.index(key) if key in keys else len(keys), str(key))
    return (0, 0, str(labels.get(key, key)).lower())


def practice_outcomes(
    *,
    actor,
    instrument: str = "phq9",
    group_by: str = "all",
    audit_action: str = "outcomes.practice_view",
) -> PracticeReport:
    """The practice's outcomes for one instrument, one row per group, de-identified: counts,
    means and rates only, with small cells suppressed (stats.suppressed_cells). Each client
    counts once, with the earliest and latest of at least two current scores; the group comes
    from the client's most recent course. NotFound for anyone but the practice's admins and
    therapists. Audited as `audit_action` (the page and the API each name theirs), with no
    client id: nothing in it identifies one. An empty `audit_action` skips it: the CSV export
    audits `outcomes.practice_export` with the file's SHA-256 once the file exists."""
    if not policy.can_view_practice_outcomes(actor):
        raise NotFound()
    if instrument not in PRACTICE_INSTRUMENTS or group_by not in GROUPINGS:
        raise NotFound()
    inst = instruments.get(instrument)
    sums = practice_sums(organisation_id=actor.organisation_id, instrument=inst, group_by=group_by)
    if audit_action:
        audit_record(actor=actor, action=audit_action)
    return PracticeReport(instrument=inst, group_by=group_by, rows=build_rows(inst, group_by, sums))


def build_rows(inst: Instrument, group_by: str, sums: list[GroupSums]) -> list[GroupRow]:
    """Turn the database's sums into report rows: suppression first, then the means and
    intervals of the groups that may be shown."""
    labels = _labels(group_by, [s.key for s in sums])
    hidden = stats.suppressed_cells({s.key: s.n for s in sums})
    rows = []
    for position, s in enumerate(sorted(sums, key=lambda s: _order(group_by, labels, s.key))):
        # Therapist groups are keyed by position, not membership id: the report shows no ids.
        key = f"therapist-{position + 1}" if group_by == "therapist" else str(s.key)
        key = NO_COURSE if s.key is None else key
        label = NO_COURSE_LABEL if s.key is None else str(labels.get(s.key, s.key))
        if s.key in hidden:
            rows.append(GroupRow(key=key, label=label, hidden=hidden[s.key]))
            continue
        mean_change = s.sum_change / s.n
        sd = None
        if s.n > 1:
            variance = (s.sum_change_sq - s.n * mean_change**2) / (s.n - 1)
            sd = max(variance, 0.0) ** 0.5
        response_hidden = inst.response_drop is not None and 0 < s.response_n < stats.MIN_CELL
        rows.append(
            GroupRow(
                key=key,
                label=label,
                hidden="",
                n=s.n,
                mean_baseline=s.sum_baseline / s.n,
                mean_latest=s.sum_latest / s.n,
                change=stats.mean_ci(n=s.n, mean=mean_change, sd=sd),
                response=(
                    stats.wilson(s.responders, s.response_n)
                    if inst.response_drop is not None and not response_hidden
                    else None
                ),
                remission=(
                    stats.wilson(s.remitters, s.n) if inst.remission_max is not None else None
                ),
                response_hidden=response_hidden,
            )
        )
    return rows
