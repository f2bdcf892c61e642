"""The one table outcomes keeps: each client's outcome per instrument, as the practice report
counts it (decision 0043).

A derived copy, never a source: every column is computed from the client's current responses
(kapflow.assessments) and most recent course (kapflow.courses) by
`outcomes.services.outcome_summary_refresh`, which the write paths call in their own
transaction; `kapflow refresh_outcomes` recomputes them all. Nothing else writes it.
"""

from django.db import models

from kapflow.accounts.models import Membership, Organisation
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client


class OutcomeSummary(models.Model):
    """One client's current scores of one instrument, summarised as the practice report reads
    them: the baseline is the earliest current score and the latest the most recent (by
    submission time, then id). `change`, `response` and `remission` are set once there are
    two scores (`scores` >= 2), by kapflow.clinical.instruments; `response` and `remission`
    stay None where the instrument defines no such rule, and `response` also when the
    baseline is 0. (A client's own chart uses another baseline, the last score before the
    first dosing: outcomes.selectors.summarise.)

    The group columns copy the client's most recent course (by opened_at, then id); all four
    are None for a client without a course."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    # Derived rows: they never stand in the way of whatever may one day delete a client.
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    instrument = models.CharField(max_length=20)
    scores = models.PositiveIntegerField()
    baseline_response = models.ForeignKey(
        "assessments.Response", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    baseline_at = models.DateTimeField()
    baseline_total = models.SmallIntegerField()
    latest_response = models.ForeignKey(
        "assessments.Response", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    latest_at = models.DateTimeField()
    latest_total = models.SmallIntegerField()
    change = models.SmallIntegerField(null=True, blank=True)
    response = models.BooleanField(null=True, blank=True)
    remission = models.BooleanField(null=True, blank=True)
    # None, not "": the client has no course (the report's "No course recorded" group).
    pathway = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    delivery = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    condition = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    therapist = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "instrument"], name="outcome_summary_one_per_instrument"
            ),
        ]
        indexes = [
            # The practice report: one practice, one instrument, clients followed up.
            models.Index(
                fields=["organisation", "instrument"],
                condition=models.Q(scores__gte=2),
                name="outcome_summary_report",
            ),
        ]

    def __str__(self):
        return f"Outcome summary #{self.pk} ({self.instrument})"
