"""The practice report's sums as they were computed before decision 0043: from every current
response on each call, in one SQL statement. Kept word for word (only renamed) as the oracle
the stored summaries are held to (tests/outcomes/test_summaries.py), and as the "before" of
bench/outcomes_sqlite.py. Not used by the application."""

from fractions import Fraction

from django.db import connection
from django.db.models import CharField, Exists, OuterRef, QuerySet, Subquery, Value

from kapflow.assessments.models import Response
from kapflow.clinical.instruments import Instrument
from kapflow.courses.models import Course
from kapflow.outcomes.selectors import GROUP_FIELDS, GroupSums
from kapflow.patients.models import Client


def current_scores(qs: QuerySet) -> QuerySet:
    corrections = Response.objects.filter(corrects=OuterRef("pk"))
    return qs.filter(submitted_at__isnull=False).filter(~Exists(corrections))


def per_client_outcomes(*, organisation_id: int, instrument: str, group_by: str) -> QuerySet:
    """One row per client of the organisation with at least two current scores of the
    instrument: `baseline` (the earliest score), `latest` (the most recent) and `group_key`
    (the grouping's field on the client's most recent course; NULL without a course)."""
    scores = current_scores(Response.objects.for_org(organisation_id)).filter(
        client_id=OuterRef("pk"), instrument=instrument
    )
    first = scores.order_by("submitted_at", "id")
    last = scores.order_by("-submitted_at", "-id")
    if group_by == "all":
        group_key = Value("all", output_field=CharField())
    else:
        latest_course = (
            Course.objects.for_org(organisation_id)
            .filter(client_id=OuterRef("pk"))
            .order_by("-opened_at", "-id")
        )
        group_key = Subquery(latest_course.values(GROUP_FIELDS[group_by])[:1])
    return (
        Client.objects.for_org(organisation_id)
        .filter(Exists(first[1:2]))
        .annotate(
            baseline=Subquery(first.values("total")[:1]),
            latest=Subquery(last.values("total")[:1]),
            group_key=group_key,
        )
        .values("baseline", "latest", "group_key")
    )


AGGREGATE_SQL = """
WITH per_client AS MATERIALIZED ({per_client})
SELECT per_client.group_key,
       COUNT(*),
       SUM(per_client.baseline),
       SUM(per_client.latest),
       SUM(per_client.latest - per_client.baseline),
       SUM((per_client.latest - per_client.baseline) * (per_client.latest - per_client.baseline)),
       SUM(CASE WHEN per_client.baseline > 0 THEN 1 ELSE 0 END),
       SUM(CASE WHEN per_client.baseline > 0
                 AND {improvement} * %s >= %s * per_client.baseline THEN 1 ELSE 0 END),
       SUM(CASE WHEN per_client.latest <= %s THEN 1 ELSE 0 END)
FROM per_client
GROUP BY per_client.group_key
"""


def recomputed_sums(*, organisation_id: int, instrument: Instrument, group_by: str):
    """The per-group sums, in one query, from the responses themselves."""
    per_client, params = per_client_outcomes(
        organisation_id=organisation_id, instrument=instrument.code, group_by=group_by
    ).query.sql_with_params()
    improvement = (
        "(per_client.baseline - per_client.latest)"
        if instrument.higher_is_worse
        else "(per_client.latest - per_client.baseline)"
    )
    if instrument.response_drop is None:
        numerator, denominator = 1, 0
    else:
        drop = Fraction(str(instrument.response_drop))
        numerator, denominator = drop.numerator, drop.denominator
    remission_max = -1 if instrument.remission_max is None else instrument.remission_max
    sql = AGGREGATE_SQL.format(improvement=improvement, per_client=per_client)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, denominator, numerator, remission_max])
        rows = cursor.fetchall()
    return [GroupSums(key, *(int(v or 0) for v in values)) for key, *values in rows]
