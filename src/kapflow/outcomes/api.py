"""Outcome scores and de-identified aggregates over JSON.

Same selectors as the pages: a client's series (care-team clinicians and practice admins;
anyone else 404) and the practice report (practice admins and therapists; 404 otherwise).
Query parameters are Literal choices, so a bad value is a 422 naming the field before any
selector runs. Suppressed cells come back with every number null.
"""

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema
from pydantic import Field

from kapflow.clinical import instruments
from kapflow.core.api import ErrorsOut, staff_actor
from kapflow.outcomes import selectors, stats

router = Router(tags=["outcomes"])

InstrumentCode = Literal[tuple(instruments.REGISTRY)]  # type: ignore[valid-type]
PracticeInstrument = Literal[selectors.PRACTICE_INSTRUMENTS]  # type: ignore[valid-type]
GroupBy = Literal[selectors.GROUPINGS]  # type: ignore[valid-type]


# ---- schemas ------------------------------------------------------------------------------


class OutcomeBandOut(Schema):
    low: int
    high: int
    label: str
    severity: int


class ScoreOut(Schema):
    response_id: int
    submitted_at: datetime
    total: int
    band: str
    corrected: bool = Field(description="This entry corrects an earlier one.")
    safety_flag: bool = Field(description="It raised a safety flag (e.g. PHQ-9 item 9).")


class SeriesOut(Schema):
    instrument: str
    name: str
    min_total: int
    max_total: int
    higher_is_worse: bool
    bands: list[OutcomeBandOut]
    scores: list[ScoreOut] = Field(description="Current scores, oldest first.")
    baseline: ScoreOut
    baseline_rule: Literal["before_first_dosing", "first_score"]
    latest: ScoreOut
    change: int | None = Field(description="Latest minus baseline; null until followed up.")
    response: bool | None = Field(description="Null until followed up, or where undefined.")
    remission: bool | None
    response_threshold: float | None = Field(
        description="The total at (or beyond) which the latest score counts as a response."
    )
    remission_max: int | None


class ClientScoresOut(Schema):
    client_id: int
    dosings: list[datetime] = Field(description="Dosing sessions of all the client's courses.")
    series: list[SeriesOut]


class ScoresParams(Schema):
    instrument: InstrumentCode | None = None


class MeanCIOut(Schema):
    mean: float
    ci_low: float | None
    ci_high: float | None


class ProportionOut(Schema):
    count: int
    of: int
    rate: float
    ci_low: float
    ci_high: float


class OutcomeGroupOut(Schema):
    key: str
    label: str
    suppressed: bool
    suppression_reason: Literal["small", "complementary"] | None
    clients: int | None
    mean_baseline: float | None
    mean_latest: float | None
    change: MeanCIOut | None
    response: ProportionOut | None
    remission: ProportionOut | None


class PracticeOut(Schema):
    instrument: str
    group_by: str
    minimum_cell: int
    groups: list[OutcomeGroupOut]


class PracticeParams(Schema):
    instrument: PracticeInstrument = "phq9"
    group_by: GroupBy = "all"


# ---- shaping ------------------------------------------------------------------------------


def _score(score: selectors.Score) -> dict:
    return {
        "response_id": score.response_id,
        "submitted_at": score.at,
        "total": score.total,
        "band": score.band,
        "corrected": score.corrected,
        "safety_flag": score.flagged,
    }


def _series(series: selectors.Series) -> dict:
    inst = series.instrument
    return {
        "instrument": inst.code,
        "name": inst.name,
        "min_total": inst.min_total,
        "max_total": inst.max_total,
        "higher_is_worse": inst.higher_is_worse,
        "bands": [
            {"low": b.low, "high": b.high, "label": b.label, "severity": b.severity}
            for b in inst.bands
        ],
        "scores": [_score(s) for s in series.scores],
        "baseline": _score(series.baseline),
        "baseline_rule": series.baseline_rule,
        "latest": _score(series.latest),
        "change": series.change,
        "response": series.response,
        "remission": series.remission,
        "response_threshold": series.response_threshold,
        "remission_max": inst.remission_max,
    }


def _proportion(p) -> dict | None:
    if p is None:
        return None
    return {"count": p.k, "of": p.n, "rate": p.p, "ci_low": p.low, "ci_high": p.high}


def _group(row: selectors.GroupRow) -> dict:
    change = row.change
    return {
        "key": row.key,
        "label": row.label,
        "suppressed": row.suppressed,
        "suppression_reason": row.hidden or None,
        "clients": row.n,
        "mean_baseline": row.mean_baseline,
        "mean_latest": row.mean_latest,
        "change": change and {"mean": change.mean, "ci_low": change.low, "ci_high": change.high},
        "response": _proportion(row.response),
        "remission": _proportion(row.remission),
    }


# ---- endpoints ----------------------------------------------------------------------------


@router.get(
    "/clients/{int:client_id}/scores",
    response={200: ClientScoresOut, 404: ErrorsOut, 422: ErrorsOut},
    summary="A client's scores over time",
)
def client_scores(request, client_id: int, params: Query[ScoresParams]):
    """Each instrument's current scores (corrections replace what they correct), its bands,
    the baseline (the last score before the first dosing session, else the first score),
    change, response and remission, and the dosing dates. Audited as a view of the client."""
    actor = staff_actor(request)
    outcomes = selectors.client_outcomes(
        actor=actor, client_id=client_id, instrument=params.instrument
    )
    return {
        "client_id": outcomes.client.pk,
        "dosings": outcomes.dosings,
        "series": [_series(s) for s in outcomes.series],
    }


@router.get(
    "/practice",
    response={200: PracticeOut, 404: ErrorsOut, 422: ErrorsOut},
    summary="The practice's de-identified outcomes",
)
def practice(request, params: Query[PracticeParams]):
    """One row per group (the client's most recent course's pathway, delivery, condition or
    therapist; or all clients): clients with two or more scores, mean first and latest
    score, mean change with its 95% t interval, response and remission rates with 95% Wilson
    intervals. Groups of fewer than `minimum_cell` clients (and, when only one group is that
    small, the next smallest) are suppressed: every number null."""
    actor = staff_actor(request)
    report = selectors.practice_outcomes(
        actor=actor,
        instrument=params.instrument,
        group_by=params.group_by,
        audit_action="outcomes.practice_api",
    )
    return {
        "instrument": report.instrument.code,
        "group_by": report.group_by,
        "minimum_cell": stats.MIN_CELL,
        "groups": [_group(row) for row in report.rows],
    }
