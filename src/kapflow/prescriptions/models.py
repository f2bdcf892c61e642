"""The collaboration between a practice and its prescribing partner: referral, medical
evaluation, the signed eligibility decision, prescriptions, fills, doses used, refill
requests.

Every row belongs to the client's practice (`organisation`, the tenant); a partner's
prescriber reaches them through the referral's care-team grant (decision 0005). What the
partner sees of the referral is exactly what the therapist chose to share (decision 0018).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.clinical import prescribing as rx
from kapflow.clinical.eligibility import Pregnancy
from kapflow.core.models import TenantQuerySet
from kapflow.courses.models import PATHWAY_CHOICES, Course, CourseEvent
from kapflow.patients.models import Client


class ReferralStatus(models.TextChoices):
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    SCHEDULED = "scheduled", "Evaluation scheduled"
    EVALUATED = "evaluated", "Evaluated"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn by the practice"


OPEN_REFERRAL = [ReferralStatus.SENT, ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED]


class Referral(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="referrals_received"
    )
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="referrals")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="referrals")
    prescriber = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=20, choices=ReferralStatus.choices, default=ReferralStatus.SENT
    )
    reason = models.TextField("Reason for referral")
    diagnoses = models.JSONField(default=list, blank=True, help_text="[{code, description}]")
    medications = models.TextField("Current medications", blank=True)
    history = models.TextField("Relevant history", blank=True)
    share_scores = models.BooleanField("Share recent scores", default=False)
    scores = models.JSONField(default=list, blank=True, help_text="Snapshot at sending.")
    consent_to_share = models.BooleanField("The client consented to share", default=False)
    consent_note = models.CharField("How consent was given", max_length=300)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True, help_text="Why declined or withdrawn.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course"],
                condition=models.Q(status__in=["sent", "accepted", "scheduled"]),
                name="referral_one_open_per_course",
            ),
            models.CheckConstraint(
                condition=models.Q(consent_to_share=True), name="referral_needs_consent"
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status", "sent_at"]),
            models.Index(fields=["prescriber", "status", "sent_at"]),
            models.Index(fields=["organisation", "status", "sent_at"]),
            # The prescriber queue's "evaluations to decide", longest waiting first.
            models.Index(
                fields=["prescriber", "status_changed_at", "id"],
                condition=models.Q(status__in=["accepted", "scheduled"]),
                name="referral_evaluating",
            ),
        ]

    def __str__(self):
        return f"Referral #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("prescriptions:referral", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REFERRAL


PREGNANCY_CHOICES = [
    (Pregnancy.UNKNOWN.value, "Not yet asked"),
    (Pregnancy.NOT_APPLICABLE.value, "Not applicable"),
    (Pregnancy.NOT_PREGNANT.value, "Not pregnant, not breastfeeding"),
    (Pregnancy.PREGNANT.value, "Pregnant"),
    (Pregnancy.BREASTFEEDING.value, "Breastfeeding"),
]


class EvaluationModality(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    VIDEO = "video", "Telehealth (audio and video)"


class MedicalEvaluation(models.Model):
    """The prescriber's evaluation, editable until a final decision is signed. `version`
    guards against two tabs saving over each other."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="evaluation")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="evaluations")
    prescriber = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    evaluated_on = models.DateField(default=timezone.localdate)
    modality = models.CharField(
        max_length=20, choices=EvaluationModality.choices, default=EvaluationModality.VIDEO
    )
    history = models.TextField("Medical and psychiatric history", blank=True)
    allergies = models.TextField(blank=True)
    substance_use = models.TextField("Substance use", blank=True)
    medications = models.JSONField(
        default=list, blank=True, help_text="[{name, rxcui, dose, daily_dose_mg}]"
    )
    bp_systolic = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(60), MaxValueValidator(260)]
    )
    bp_diastolic = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(30), MaxValueValidator(160)]
    )
    heart_rate = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(25), MaxValueValidator(250)]
    )
    weight_kg = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(20), MaxValueValidator(400)],
    )  # fmt: skip
    height_cm = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(100), MaxValueValidator(250)],
    )  # fmt: skip
    pregnancy = models.CharField(
        max_length=20, choices=PREGNANCY_CHOICES, default=Pregnancy.UNKNOWN.value
    )
    ongoing_therapy = models.BooleanField(
        "In ongoing therapy with a licensed provider", null=True, blank=True
    )
    checklist = models.JSONField(default=dict, blank=True, help_text="{item code: yes/no}")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    objects = TenantQuerySet.as_manager()

    def __str__(self):
        return f"Medical evaluation #{self.pk}"


class Decision(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"
    NEEDS_INFO = "needs_info", "Needs more information"


class EligibilityDecision(models.Model):
    """The prescriber's signed decision with the findings shown at that moment and the
    evaluation as screened. Immutable (a PostgreSQL trigger refuses UPDATE and DELETE)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    evaluation = models.ForeignKey(
        MedicalEvaluation, on_delete=models.PROTECT, related_name="decisions"
    )
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.TextField()
    findings = models.JSONField(default=list, blank=True)
    findings_digest = models.CharField(max_length=64)
    evaluation_snapshot = models.JSONField(default=dict, blank=True)
    exclusions_acknowledged = models.BooleanField(default=False)
    # Medicines not in the catalogue that the prescriber ticked as reviewed by hand, each as
    # {"medication", "reviewed_by" (user id), "reviewed_at" (ISO instant)}: the same person and
    # moment as the signature, kept with each medicine so the record reads alone (decision 0028).
    medications_reviewed = models.JSONField(default=list, blank=True)
    clearance_valid_days = models.PositiveSmallIntegerField(null=True, blank=True)
    signature = models.CharField("Signed (typed full name)", max_length=200)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_membership = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["course", "-decided_at"])]

    def __str__(self):
        return f"Eligibility decision #{self.pk}"


FREQUENCY_CHOICES = [
    (rx.Frequency.PER_SESSION.value, "One dose per dosing session"),
    (rx.Frequency.DAILY.value, "Daily low dose"),
]
PRODUCT_CHOICES = [(p.code, p.label) for p in rx.PRODUCTS.values()]
ROUTE_CHOICES = [(r.value, label) for r, label in rx.ROUTE_LABELS.items()]


class PrescriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANCELLED = "cancelled", "Cancelled"


class Prescription(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="prescriptions")
    prescriber = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    product = models.CharField(max_length=40, choices=PRODUCT_CHOICES)
    drug = models.CharField(max_length=40)
    rxcui = models.CharField("RxNorm code", max_length=20, blank=True)
    form = models.CharField(max_length=60)
    route = models.CharField(max_length=20, choices=ROUTE_CHOICES)
    strength_mg = models.DecimalField(
        "Strength (mg per unit)", max_digits=7, decimal_places=2,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )  # fmt: skip
    dose_mg = models.DecimalField(
        "Dose (mg)", max_digits=7, decimal_places=2,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )  # fmt: skip
    frequency = models.CharField(max_length=20, choices=FREQUENCY_CHOICES)
    pathway = models.CharField(max_length=20, choices=PATHWAY_CHOICES)
    quantity = models.PositiveSmallIntegerField(
        "Doses per fill", validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    refills = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(rx.MAX_REFILLS)]
    )
    pharmacy_name = models.CharField(max_length=200)
    pharmacy_phone = models.CharField(max_length=30, blank=True)
    pharmacy_address = models.CharField(max_length=300, blank=True)
    instructions = models.TextField(blank=True)
    dea_schedule = models.CharField(max_length=4, default=rx.DEA_SCHEDULE, editable=False)
    dea_number = models.CharField("Prescriber DEA registration", max_length=9)
    written_on = models.DateField()
    expires_on = models.DateField()
    status = models.CharField(
        max_length=20, choices=PrescriptionStatus.choices, default=PrescriptionStatus.ACTIVE
    )
    warnings_confirmed = models.JSONField(default=list, blank=True)
    confirm_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancel_reason = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["course", "status"]),
            models.Index(fields=["prescriber", "status"]),
        ]

    def __str__(self):
        return f"Prescription #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("prescriptions:prescription", args=[self.pk])


class Handover(models.TextChoices):
    """How a fill reaches the client: shipped (a shipping date, then receipt) or collected at
    the clinic or pharmacy (receipt only; there is nothing to ship)."""

    SHIPPED = "shipped", "Shipped to the client"
    PICKUP = "pickup", "Picked up at the clinic or pharmacy"


class Dispense(models.Model):
    """One fill: the original (fill 0) or a refill, and how it reached the client."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="dispenses"
    )
    fill_number = models.PositiveSmallIntegerField()
    quantity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    dispensed_on = models.DateField()
    handover = models.CharField(max_length=10, choices=Handover.choices, default=Handover.SHIPPED)
    shipped_on = models.DateField(null=True, blank=True)
    tracking = models.CharField(max_length=100, blank=True)
    received_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prescription", "fill_number"], name="dispense_fill_once"
            ),
            # A fill picked up is never shipped.
            models.CheckConstraint(
                condition=~models.Q(handover="pickup") | models.Q(shipped_on__isnull=True),
                name="dispense_pickup_not_shipped",
            ),
        ]

    def __str__(self):
        return f"Fill {self.fill_number} of prescription #{self.prescription_id}"


class DoseSource(models.TextChoices):
    SESSION = "session", "Dosing session"
    SELF_LOG = "self_log", "Logged by the client"


class DoseUse(models.Model):
    """One dose used: in a dosing session, or a daily low dose the client logged."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="dose_uses")
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="uses")
    source = models.CharField(max_length=20, choices=DoseSource.choices)
    used_at = models.DateTimeField(default=timezone.now)
    taken_on = models.DateField()
    amount_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    dosing_event = models.ForeignKey(
        CourseEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course", "taken_on"],
                condition=models.Q(source="self_log"),
                name="dose_self_log_once_a_day",
            )
        ]
        indexes = [
            models.Index(fields=["prescription", "used_at"]),
            models.Index(fields=["course", "taken_on"]),
        ]

    def __str__(self):
        return f"Dose on course #{self.course_id}"


class DoseAuthorisation(models.Model):
    """The course's prescriber authorises more than the prescription's per-session amount
    for the course's next dosing session (decision 0030): the amount (the session's new
    maximum, boosters included), why, who and when. The first dose given after it uses it
    (`dose_use`), and the boosters of that session count against it; a later session is back
    to the prescription's amount. Never edited: a different amount is a new authorisation."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="+")
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="dose_authorisations"
    )
    amount_mg = models.DecimalField(
        "Most for the session (mg)", max_digits=7, decimal_places=2,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )  # fmt: skip
    reason = models.TextField()
    authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    authorised_by_membership = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="+"
    )
    authorised_at = models.DateTimeField(default=timezone.now)
    dose_use = models.OneToOneField(
        DoseUse, on_delete=models.PROTECT, null=True, blank=True, related_name="authorisation"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["prescription", "-authorised_at"])]

    def __str__(self):
        return f"Dose authorisation #{self.pk}"


class RefillStatus(models.TextChoices):
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled"
    DECLINED = "declined", "Declined"


class RefillRequest(models.Model):
    """Raised for the prescriber when doses left fall to the practice's threshold."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="refill_requests")
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="refill_requests"
    )
    prescriber = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    doses_left = models.PositiveSmallIntegerField()
    fills_left = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=20, choices=RefillStatus.choices, default=RefillStatus.OPEN
    )
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prescription"],
                condition=models.Q(status="open"),
                name="refill_request_one_open",
            )
        ]
        indexes = [models.Index(fields=["prescriber", "status", "raised_at"])]

    def __str__(self):
        return f"Refill request #{self.pk}"
