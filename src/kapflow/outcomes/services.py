"""Outcomes write paths: keep each client's OutcomeSummary rows equal to what their current
responses and most recent course say (decision 0043).

There is no use case here of its own, no actor and no audit row: these functions are called
by the write paths that change what a summary is computed from, inside their transaction,
after their own writes: a submitted, entered or corrected response
(kapflow.assessments.services) and a course opened (kapflow.courses.services.course_open, the
only write that changes which course is a client's most recent or its pathway, delivery,
condition or therapist). `kapflow refresh_outcomes` recomputes every row, as a repair.

What a summary holds is decided in one place, outcomes.selectors.computed_summaries, from the
rows the report used to aggregate on every view: the current scores (submitted, not replaced
by a correction) and the client's course with the latest opened_at (then id).
"""

import logging
from collections.abc import Iterable

from django.db import transaction

from kapflow.outcomes.models import OutcomeSummary
from kapflow.outcomes.selectors import BATCH, computed_summaries
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)

# Every column but the unique key, rewritten when a client's row for the instrument exists.
UPDATED_FIELDS = [
    "organisation", "scores", "baseline_response", "baseline_at", "baseline_total",
    "latest_response", "latest_at", "latest_total", "change", "response", "remission",
    "pathway", "delivery", "condition", "therapist",
]  # fmt: skip


def outcome_summaries_refresh(*, client_ids: Iterable[int]) -> int:
    """Recompute and store the summaries of these clients, inside the caller's transaction.

    The client rows are locked first (FOR UPDATE on PostgreSQL): two responses of one client
    submitted at once would otherwise each compute from a snapshot without the other's row,
    and the later commit would store the stale one. The lock makes the second wait, and its
    next statement (READ COMMITTED) sees the first's response. Callers take it before they
    lock the client's course (kapflow.courses.services locks client, then course).
    Returns the number of summaries written."""
    ids = sorted(set(client_ids))
    if not ids:
        return 0
    client_organisations = dict(
        Client.objects.select_for_update().filter(pk__in=ids).values_list("pk", "organisation_id")
    )
    fresh = computed_summaries(client_organisations)
    keep = {(s.client_id, s.instrument) for s in fresh}
    stale = [
        pk
        for pk, client_id, code in OutcomeSummary.objects.filter(client_id__in=ids).values_list(
            "pk", "client_id", "instrument"
        )
        if (client_id, code) not in keep
    ]
    if stale:
        OutcomeSummary.objects.filter(pk__in=stale).delete()
    if fresh:
        OutcomeSummary.objects.bulk_create(
            fresh,
            update_conflicts=True,
            unique_fields=["client", "instrument"],
            update_fields=UPDATED_FIELDS,
        )
    return len(fresh)


def outcome_summary_refresh(*, client_id: int) -> int:
    """Recompute and store one client's summaries, inside the caller's transaction (see
    outcome_summaries_refresh): the hook every write path that changes them calls."""
    return outcome_summaries_refresh(client_ids=[client_id])


def outcome_summaries_rebuild(*, organisation_id: int | None = None) -> int:
    """Recompute the summaries of every client (or one organisation's), BATCH clients per
    transaction, so a large practice neither holds its locks long nor keeps every row in
    memory. `kapflow refresh_outcomes` and the bench call it. Returns the rows written."""
    clients = Client.objects.order_by("pk")
    if organisation_id is not None:
        clients = clients.filter(organisation_id=organisation_id)
    written, last = 0, 0
    while True:
        ids = list(clients.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        with transaction.atomic():
            written += outcome_summaries_refresh(client_ids=ids)
        last = ids[-1]
    logger.info(
        "outcomes.summaries_rebuilt", extra={"organisation_id": organisation_id, "rows": written}
    )
    return written
