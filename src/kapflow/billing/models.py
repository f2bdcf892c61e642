"""Money (issue 15, decision 0045): the practice's fee schedule, a client's coverage and
diagnoses for claims, prepaid packages and monthly subscriptions, invoices with their lines,
payments, refunds, credits and write-offs, and monthly statements.

Amounts are `Decimal` to the cent with the currency beside them (`currency`, ISO 4217; every
practice bills in one currency, USD by default). Rows hold data and the invariants the
database can check; every write goes through kapflow.billing.services, which asks
kapflow.clinical.billing for every decision and audits. A fee never changes in place: a new
rate is a new row from its effective date, so an old invoice still reads the rate it used.
Coverage, diagnoses and invoices are PHI: organisation-scoped, never in logs or URLs beyond ids.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.clinical import billing as rules
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

MONEY = {"max_digits": 12, "decimal_places": 2}
CURRENCY = {"max_length": 3, "default": "USD"}
ZERO = Decimal("0.00")


class Purpose(models.TextChoices):
    PSYCHOTHERAPY = rules.Purpose.PSYCHOTHERAPY.value, "Psychotherapy (by time)"
    INTAKE = rules.Purpose.INTAKE.value, "Intake (diagnostic evaluation)"
    PRIVATE_TIME = rules.Purpose.PRIVATE_TIME.value, "Private time (hourly)"
    PACKAGE = rules.Purpose.PACKAGE.value, "Package draw-down"
    OTHER = "other", "Other (package sale, subscription, manual)"


class Rounding(models.TextChoices):
    UP = "up", "Up"
    NEAREST = "nearest", "To the nearest step"
    DOWN = "down", "Down"


class BillingSettings(models.Model):
    """A practice's billing identity and rules (one row per practice)."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="billing_settings"
    )
    tax_id = models.CharField("Tax id (EIN)", max_length=20, blank=True)
    currency = models.CharField(**CURRENCY)
    rounding_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="Private time is billed in steps of this many minutes."
    )
    rounding = models.CharField(max_length=10, choices=Rounding.choices, default="nearest")
    telehealth_modifier = models.CharField(
        max_length=2, default="95", help_text="95 (synchronous audio-video) or GT (legacy)."
    )
    payment_terms_days = models.PositiveSmallIntegerField(default=30)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(telehealth_modifier__in=["95", "GT"]),
                name="billing_settings_modifier_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(rounding_minutes__gte=1, rounding_minutes__lte=60),
                name="billing_settings_rounding_range",
            ),
        ]

    def __str__(self):
        return f"Billing settings #{self.pk}"


class FeeService(models.Model):
    """One service of the practice's fee schedule, in effect from `effective_from` until the
    day before the next row of the same code (`effective_to`, set when a new rate is added)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(
        "CPT/HCPCS code", max_length=10, help_text="E.g. 90837, 90791, or the private line."
    )
    description = models.CharField(max_length=200)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    modifiers = models.CharField(max_length=20, blank=True, help_text="Comma-separated.")
    place_of_service = models.CharField(max_length=2, blank=True)
    unit_minutes = models.PositiveSmallIntegerField(default=60)
    rate = models.DecimalField(**MONEY, help_text="Per unit; per hour for private time.")
    currency = models.CharField(**CURRENCY)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code", "effective_from"], name="fee_one_rate_per_day"
            ),
            models.CheckConstraint(condition=models.Q(rate__gte=0), name="fee_rate_not_negative"),
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gte=models.F("effective_from")),
                name="fee_effective_order",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "code", "-effective_from"])]

    def __str__(self):
        return f"Fee {self.code} from {self.effective_from}"


class CoverageKind(models.TextChoices):
    SELF_PAY = rules.CoverageKind.SELF_PAY.value, "Self-pay"
    IN_NETWORK = rules.CoverageKind.IN_NETWORK.value, "In network (the practice claims)"
    OUT_OF_NETWORK = rules.CoverageKind.OUT_OF_NETWORK.value, "Out of network (superbill)"


class Relationship(models.TextChoices):
    SELF = "self", "Self"
    SPOUSE = "spouse", "Spouse or partner"
    CHILD = "child", "Child"
    OTHER = "other", "Other"


class Coverage(models.Model):
    """A client's insurance (PHI): one row per client, changed in place with every change
    audited (field names only)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.OneToOneField(Client, on_delete=models.PROTECT, related_name="coverage")
    kind = models.CharField(max_length=20, choices=CoverageKind.choices)
    payer = models.CharField(max_length=200, blank=True)
    payer_id = models.CharField("Payer id", max_length=20, blank=True)
    member_id = models.CharField("Member id", max_length=40, blank=True)
    group_number = models.CharField(max_length=40, blank=True)
    subscriber_name = models.CharField(max_length=200, blank=True)
    relationship = models.CharField(
        max_length=10, choices=Relationship.choices, default=Relationship.SELF
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=CoverageKind.values), name="coverage_kind_valid"
            ),
            # Insurance names its payer and member id; self-pay needs neither.
            models.CheckConstraint(
                condition=models.Q(kind="self_pay")
                | (~models.Q(payer="") & ~models.Q(member_id="")),
                name="coverage_insurance_complete",
            ),
        ]

    def __str__(self):
        return f"Coverage #{self.pk}"


class Diagnosis(models.Model):
    """An ICD-10-CM diagnosis for claims and superbills, in pointer order (`rank` 1 = A)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="billing_diagnoses")
    code = models.CharField(max_length=10)
    description = models.CharField(max_length=300)
    rank = models.PositiveSmallIntegerField(default=1)
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "code"], name="diagnosis_once_per_client")
        ]
        ordering = ["rank", "id"]

    def __str__(self):
        return f"Diagnosis #{self.pk}"


class InvoiceState(models.TextChoices):
    DRAFT = rules.InvoiceState.DRAFT.value, "Draft"
    ISSUED = rules.InvoiceState.ISSUED.value, "Issued"
    PARTLY_PAID = rules.InvoiceState.PARTLY_PAID.value, "Partly paid"
    PAID = rules.InvoiceState.PAID.value, "Paid"
    VOID = rules.InvoiceState.VOID.value, "Void"


OPEN_STATES = (InvoiceState.ISSUED, InvoiceState.PARTLY_PAID)


class Invoice(models.Model):
    """A client's invoice. Its totals are stored (lists read them without summing lines) and
    recomputed from the lines and money rows by kapflow.clinical.billing.totals on every
    write; a test adds them back."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    number = models.PositiveIntegerField(help_text="Per practice, in order of creation.")
    state = models.CharField(max_length=20, choices=InvoiceState.choices, default="draft")
    currency = models.CharField(**CURRENCY)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    total = models.DecimalField(**MONEY, default=ZERO)
    client_total = models.DecimalField(**MONEY, default=ZERO)
    payer_total = models.DecimalField(**MONEY, default=ZERO)
    paid = models.DecimalField(**MONEY, default=ZERO, help_text="Payments less refunds.")
    credited = models.DecimalField(**MONEY, default=ZERO)
    written_off = models.DecimalField(**MONEY, default=ZERO)
    balance = models.DecimalField(**MONEY, default=ZERO)
    version = models.PositiveIntegerField(default=1)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "number"], name="invoice_number_once"),
            models.CheckConstraint(
                condition=models.Q(state__in=InvoiceState.values), name="invoice_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(state="draft")
                | models.Q(issued_on__isnull=False)
                | models.Q(state="void"),
                name="invoice_issued_has_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="void") | models.Q(voided_at__isnull=False),
                name="invoice_void_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "state", "issued_on"], name="invoice_state"),
            models.Index(fields=["organisation", "client", "-created_at"], name="invoice_client"),
        ]

    def __str__(self):
        return f"Invoice #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("billing:invoice", args=[self.pk])

    @property
    def label(self) -> str:
        return f"INV-{self.number:05d}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class BillTo(models.TextChoices):
    PAYER = rules.BillTo.PAYER.value, "Payer (claim)"
    CLIENT = rules.BillTo.CLIENT.value, "Client"
    PACKAGE = rules.BillTo.PACKAGE.value, "Prepaid package"


class SourceKind(models.TextChoices):
    DOSING_SESSION = "dosing_session", "Dosing session"
    APPOINTMENT = "appointment", "Appointment"
    PACKAGE_SALE = "package_sale", "Package sale"
    SUBSCRIPTION = "subscription", "Subscription"


class InvoiceLine(models.Model):
    """One charge, with the words that say why it is what it is."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices)
    source_id = models.PositiveBigIntegerField()
    service_date = models.DateField()
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    code = models.CharField(max_length=10, blank=True)
    description = models.CharField(max_length=200)
    modifiers = models.CharField(max_length=20, blank=True)
    place_of_service = models.CharField(max_length=2, blank=True)
    units = models.DecimalField(max_digits=9, decimal_places=4)
    unit_price = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    bill_to = models.CharField(max_length=10, choices=BillTo.choices)
    minutes = models.PositiveIntegerField(default=0)
    why = models.TextField()
    clinician = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The rendering clinician.",
    )  # fmt: skip
    fee = models.ForeignKey(FeeService, on_delete=models.PROTECT, null=True, blank=True)
    package = models.ForeignKey(
        "Package", on_delete=models.PROTECT, null=True, blank=True, related_name="draws"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(why=""), name="invoice_line_says_why"),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="invoice_line_not_negative"
            ),
            models.CheckConstraint(
                condition=~models.Q(bill_to="package") | models.Q(package__isnull=False),
                name="invoice_line_draw_names_package",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "source_kind", "source_id"])]
        ordering = ["service_date", "id"]

    def __str__(self):
        return f"Invoice line #{self.pk}"


class Package(models.Model):
    """A prepaid package (e.g. medication for two dosing sessions, $355) drawn down one
    session at a time by invoice lines (`draws`)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="packages")
    name = models.CharField(max_length=200)
    sessions_total = models.PositiveSmallIntegerField()
    sessions_used = models.PositiveSmallIntegerField(default=0)
    covers = models.CharField(max_length=20, default="dosing")
    price = models.DecimalField(**MONEY)
    currency = models.CharField(**CURRENCY)
    purchased_on = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sessions_used__lte=models.F("sessions_total")),
                name="package_not_overdrawn",
            ),
            models.CheckConstraint(
                condition=models.Q(sessions_total__gte=1), name="package_has_sessions"
            ),
        ]

    def __str__(self):
        return f"Package #{self.pk}"

    @property
    def sessions_left(self) -> int:
        return self.sessions_total - self.sessions_used


class Subscription(models.Model):
    """A monthly subscription (e.g. low-dose programme, $129/month) billed on its billing
    day; the first and last months are prorated by day."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="subscriptions")
    name = models.CharField(max_length=200)
    monthly_amount = models.DecimalField(**MONEY)
    currency = models.CharField(**CURRENCY)
    billing_day = models.PositiveSmallIntegerField()
    started_on = models.DateField()
    billed_through = models.DateField(null=True, blank=True)
    cancelled_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_day__gte=1, billing_day__lte=31),
                name="subscription_billing_day_range",
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_amount__gt=0), name="subscription_amount_positive"
            ),
        ]

    def __str__(self):
        return f"Subscription #{self.pk}"

    @property
    def active(self) -> bool:
        return self.cancelled_on is None


class PaymentMethod(models.TextChoices):
    CARD_EXTERNAL = "card_external", "Card (processed outside kapflow)"
    MANUAL = "manual", "Manual (cash or cheque)"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    HSA_FSA = "hsa_fsa", "HSA/FSA card"
    FINANCING = "financing", "Financing partner"
    INSURANCE = "insurance", "Insurance payment"


class Payment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(**CURRENCY)
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    reference = models.CharField(max_length=100, blank=True)
    received_on = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_positive"),
            models.CheckConstraint(
                condition=models.Q(method__in=PaymentMethod.values), name="payment_method_valid"
            ),
        ]

    def __str__(self):
        return f"Payment #{self.pk}"


class Refund(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=300)
    refunded_on = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive")
        ]

    def __str__(self):
        return f"Refund #{self.pk}"


class Credit(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credits")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=300)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="credit_positive")
        ]

    def __str__(self):
        return f"Credit #{self.pk}"


class WriteOffReason(models.TextChoices):
    SMALL_BALANCE = "small_balance", "Small balance"
    HARDSHIP = "hardship", "Financial hardship"
    UNCOLLECTABLE = "uncollectable", "Uncollectable"
    PAYER_CONTRACT = "payer_contract", "Payer contractual adjustment"
    COURTESY = "courtesy", "Professional courtesy"


class WriteOff(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_offs")
    amount = models.DecimalField(**MONEY)
    reason_code = models.CharField(max_length=20, choices=WriteOffReason.choices)
    note = models.CharField(max_length=300, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="write_off_positive"),
            models.CheckConstraint(
                condition=models.Q(reason_code__in=WriteOffReason.values),
                name="write_off_reason_valid",
            ),
        ]

    def __str__(self):
        return f"Write-off #{self.pk}"


class Statement(models.Model):
    """A client's monthly statement: what was owed at the end of a month (the month-end run,
    one row per client and month)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="statements")
    period_start = models.DateField()
    period_end = models.DateField()
    open_invoices = models.PositiveIntegerField(default=0)
    charged = models.DecimalField(**MONEY, default=ZERO, help_text="Invoiced in the month.")
    paid = models.DecimalField(**MONEY, default=ZERO, help_text="Received in the month.")
    balance = models.DecimalField(**MONEY, default=ZERO, help_text="Owed at the month's end.")
    currency = models.CharField(**CURRENCY)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "period_start"], name="statement_once_per_month"
            )
        ]
        indexes = [models.Index(fields=["organisation", "client", "-period_start"])]

    def __str__(self):
        return f"Statement #{self.pk}"
