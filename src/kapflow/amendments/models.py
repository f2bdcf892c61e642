"""Requests to amend a client's record (HIPAA 45 CFR 164.526; decision 0035).

A client asks, in the portal, to correct one part of their record. A licensed clinician of the
practice that holds the record accepts or denies it by the due date (60 days, or 90 with one
written extension). An accepted request carries the amendment that is shown with the part it
concerns; signed notes and submitted questionnaires are never edited. A denied request keeps
its ground and explanation, the client's statement of disagreement and any rebuttal, all
shown with the part.

One row holds the whole life of a request. Each stage (extension, decision, disagreement,
rebuttal) is written once by kapflow.amendments.services; on PostgreSQL a trigger (migration
0002) refuses any change to the request or to a stage already written, and any DELETE.
"""

from django.conf import settings
from django.db import models

from kapflow.accounts.models import Membership, Organisation
from kapflow.clinical.amendments import DENIAL_BASIS_BY_CODE
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

TEXT_MAX = 5_000
PART_DESCRIPTION_MAX = 300
TELL_OTHERS_MAX = 500


class RecordPart(models.TextChoices):
    DEMOGRAPHICS = "demographics", "My personal details (name, date of birth, contact details)"
    ASSESSMENT = "assessment", "A questionnaire I answered"
    NOTE = "note", "A note from one of my sessions"
    OTHER = "other", "Something else"


# The same parts in the practice's words (the choices above are the client's).
STAFF_PART_LABELS = {
    "demographics": "Personal details",
    "assessment": "A questionnaire response",
    "note": "A session note",
    "other": "Something else",
}


class Status(models.TextChoices):
    OPEN = "open", "Waiting for a decision"
    ACCEPTED = "accepted", "Accepted"
    DENIED = "denied", "Denied"


class DenialBasis(models.TextChoices):
    """The grounds of 164.526(a)(2), as kapflow.clinical.amendments.DENIAL_BASES names them."""

    NOT_CREATED_HERE = "not_created_here", DENIAL_BASIS_BY_CODE["not_created_here"].label
    NOT_IN_RECORD_SET = "not_in_record_set", DENIAL_BASIS_BY_CODE["not_in_record_set"].label
    NOT_AVAILABLE = (
        "not_available_for_inspection",
        DENIAL_BASIS_BY_CODE["not_available_for_inspection"].label,
    )
    ACCURATE = "accurate_and_complete", DENIAL_BASIS_BY_CODE["accurate_and_complete"].label


class AmendmentRequest(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="amendment_requests")

    # What the client asked.
    part = models.CharField(max_length=20, choices=RecordPart.choices)
    response = models.ForeignKey(
        "assessments.Response",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amendment_requests",
        help_text="The questionnaire response, when the part is a questionnaire.",
    )
    part_description = models.CharField(max_length=PART_DESCRIPTION_MAX, blank=True)
    what_is_wrong = models.TextField(max_length=TEXT_MAX)
    should_say = models.TextField(max_length=TEXT_MAX)
    why = models.TextField(max_length=TEXT_MAX)
    tell_others = models.CharField(
        max_length=TELL_OTHERS_MAX,
        blank=True,
        help_text="People the client wants told of an accepted amendment (164.526(c)(3)).",
    )
    requested_at = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_on = models.DateField(help_text="The practice's clinical date of receipt.")
    # Stored, not recomputed: it is the date the client was told (kapflow.clinical.amendments).
    due_on = models.DateField()

    # The one extension (164.526(b)(2)(ii)).
    extended_at = models.DateTimeField(null=True, blank=True)
    extended_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    extension_reason = models.TextField(max_length=TEXT_MAX, blank=True)

    # The decision, by a licensed clinician (kapflow.policy.can_decide_amendment).
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    note = models.ForeignKey(
        "notes.Note",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amendment_requests",
        help_text="The signed note the clinician identified as the part concerned.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField(max_length=200, blank=True)
    licence_type = models.CharField(max_length=10, blank=True)
    licence_state = models.CharField(max_length=2, blank=True)
    licence_number = models.CharField(max_length=50, blank=True)
    denial_basis = models.CharField(max_length=40, choices=DenialBasis.choices, blank=True)
    explanation = models.TextField(
        max_length=TEXT_MAX, blank=True, help_text="Required for a denial: why, in plain words."
    )
    amendment_text = models.TextField(
        max_length=TEXT_MAX, blank=True, help_text="Required for an acceptance: the amendment."
    )

    # After a denial: the client's statement of disagreement, and the practice's rebuttal.
    disagreement = models.TextField(max_length=TEXT_MAX, blank=True)
    disagreement_at = models.DateTimeField(null=True, blank=True)
    rebuttal = models.TextField(max_length=TEXT_MAX, blank=True)
    rebuttal_at = models.DateTimeField(null=True, blank=True)
    rebuttal_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rebuttal_by_name = models.CharField(max_length=200, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(part__in=RecordPart.values), name="amendment_part_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="amendment_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(denial_basis="") | models.Q(denial_basis__in=DenialBasis.values),
                name="amendment_denial_basis_valid",
            ),
            # A questionnaire request names its response; no other part does.
            models.CheckConstraint(
                condition=models.Q(part="assessment", response__isnull=False)
                | (~models.Q(part="assessment") & models.Q(response__isnull=True)),
                name="amendment_response_matches_part",
            ),
            models.CheckConstraint(
                condition=models.Q(note__isnull=True) | models.Q(part__in=["note", "other"]),
                name="amendment_note_matches_part",
            ),
            models.CheckConstraint(
                condition=models.Q(due_on__gte=models.F("received_on")),
                name="amendment_due_after_receipt",
            ),
            # The extension carries who and why, or nothing.
            models.CheckConstraint(
                condition=models.Q(
                    extended_at__isnull=True, extended_by__isnull=True, extension_reason=""
                )
                | (
                    models.Q(extended_at__isnull=False, extended_by__isnull=False)
                    & ~models.Q(extension_reason="")
                ),
                name="amendment_extension_complete",
            ),
            # Open: no decision. Accepted: the amendment. Denied: its ground and explanation.
            models.CheckConstraint(
                condition=models.Q(
                    status="open",
                    decided_at__isnull=True,
                    decided_by__isnull=True,
                    denial_basis="",
                    amendment_text="",
                )
                | (
                    models.Q(
                        status="accepted",
                        decided_at__isnull=False,
                        decided_by__isnull=False,
                        denial_basis="",
                    )
                    & ~models.Q(amendment_text="")
                )
                | (
                    models.Q(
                        status="denied",
                        decided_at__isnull=False,
                        decided_by__isnull=False,
                        amendment_text="",
                    )
                    & ~models.Q(denial_basis="")
                    & ~models.Q(explanation="")
                ),
                name="amendment_decision_matches_status",
            ),
            models.CheckConstraint(
                condition=models.Q(disagreement_at__isnull=True, disagreement="")
                | (
                    models.Q(disagreement_at__isnull=False, status="denied")
                    & ~models.Q(disagreement="")
                ),
                name="amendment_disagreement_after_denial",
            ),
            models.CheckConstraint(
                condition=models.Q(rebuttal_at__isnull=True, rebuttal_by__isnull=True, rebuttal="")
                | (
                    models.Q(
                        rebuttal_at__isnull=False,
                        rebuttal_by__isnull=False,
                        disagreement_at__isnull=False,
                    )
                    & ~models.Q(rebuttal="")
                ),
                name="amendment_rebuttal_after_disagreement",
            ),
        ]
        indexes = [
            # The practice's queue: open requests by due date.
            models.Index(fields=["organisation", "status", "due_on", "id"], name="amendment_queue"),
            models.Index(
                fields=["organisation", "client", "-requested_at", "-id"],
                name="amendment_client_list",
            ),
        ]

    def __str__(self):
        return f"Amendment request #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("amendments:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN

    @property
    def is_extended(self) -> bool:
        return self.extended_at is not None

    @property
    def part_for_staff(self) -> str:
        return STAFF_PART_LABELS.get(self.part, self.part)

    @property
    def denial_basis_plain(self) -> str:
        basis = DENIAL_BASIS_BY_CODE.get(self.denial_basis)
        return basis.plain if basis else ""

    @property
    def denial_basis_source(self) -> str:
        basis = DENIAL_BASIS_BY_CODE.get(self.denial_basis)
        return basis.source if basis else ""
