"""The public directory's data: what a practice publishes about itself and its clinicians,
and the inquiries the public sends (decision 0046).

Lists of codes (modalities, conditions, insurance, languages) are stored as "|a|b|" text so
one `contains "|a|"` filter works alike on SQLite and PostgreSQL; `search_text` is the
lower-cased, accent-free words of names and bio that the full-text search matches.
Nothing here is shown unless `published` is true; an unpublished practice hides its
clinicians too.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from kapflow.accounts.models import STATE_CHOICES, Membership, Organisation
from kapflow.core.models import TenantQuerySet


class Modality(models.TextChoices):
    HIGHER_DOSE = "higher_dose", "KAP, higher-dose"
    PSYCHOLYTIC = "psycholytic", "Psycholytic low-dose"
    IN_PERSON = "in_person", "In person"
    AT_HOME = "at_home", "At home by telehealth"
    GROUP = "group", "Group KAP"


class Condition(models.TextChoices):
    DEPRESSION = "depression", "Depression"
    PTSD = "ptsd", "PTSD and trauma"
    ANXIETY = "anxiety", "Anxiety"
    OCD = "ocd", "OCD"
    SUBSTANCE = "substance", "Alcohol and substance use"
    PAIN = "pain", "Chronic pain"
    END_OF_LIFE = "end_of_life", "End-of-life distress"


class Insurance(models.TextChoices):
    SELF_PAY = "self_pay", "Self-pay"
    SUPERBILL = "superbill", "Superbill for out-of-network"
    AETNA = "aetna", "Aetna"
    BCBS = "bcbs", "Blue Cross Blue Shield"
    CIGNA = "cigna", "Cigna"
    UNITED = "united", "UnitedHealthcare"
    MEDICARE = "medicare", "Medicare"
    SLIDING = "sliding", "Sliding scale"


class Language(models.TextChoices):
    EN = "en", "English"
    ES = "es", "Spanish"
    FR = "fr", "French"
    PT = "pt", "Portuguese"
    VI = "vi", "Vietnamese"
    ZH = "zh", "Chinese"
    ASL = "asl", "American Sign Language"


def codes_text(codes) -> str:
    """["a", "b"] → "|a|b|" (sorted, unique); [] → ""."""
    unique = sorted({c for c in codes if c})
    return "|" + "|".join(unique) + "|" if unique else ""


def codes_list(text: str) -> list[str]:
    return [c for c in (text or "").split("|") if c]


class PracticeProfile(models.Model):
    """A practice's public page. Its location is the ZIP's centroid (from the `zipcodes`
    package), never a geocoded street address."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="directory_profile"
    )
    slug = models.SlugField(max_length=80, unique=True)
    display_name = models.CharField(max_length=200)
    bio = models.TextField(max_length=4000, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    website = models.URLField(blank=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, choices=STATE_CHOICES)
    zip_code = models.CharField("ZIP code", max_length=5, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    online_only = models.BooleanField(
        default=False, help_text="No office: clients are seen by telehealth only."
    )
    partner = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The prescribing partner that works with the practice.",
    )
    published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["published", "state"])]

    def __str__(self) -> str:
        return self.display_name


class ClinicianProfile(models.Model):
    """A clinician's public card, written by the practice. The licensed states shown and
    searched are read from the clinician's licences (accounts) on the day, never typed here;
    the KAP training certificates likewise."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    practice = models.ForeignKey(
        PracticeProfile, on_delete=models.PROTECT, related_name="clinicians"
    )
    membership = models.OneToOneField(
        Membership, on_delete=models.PROTECT, related_name="directory_profile"
    )
    slug = models.SlugField(max_length=80, unique=True)
    display_name = models.CharField(max_length=200)
    credentials = models.CharField(max_length=80, blank=True)
    bio = models.TextField(max_length=4000, blank=True)
    modalities = models.CharField(max_length=200, blank=True)
    conditions = models.CharField(max_length=300, blank=True)
    insurance = models.CharField(max_length=300, blank=True)
    languages = models.CharField(max_length=200, blank=True, default="|en|")
    price_min = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100_000)], help_text="USD a session"
    )
    price_max = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100_000)], help_text="USD a session"
    )
    accepting_new = models.BooleanField(default=True)
    in_person = models.BooleanField(default=True)
    telehealth = models.BooleanField(default=True)
    partner_prescriber = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The prescriber a joint intake is booked with.",
    )
    consult_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(15), MaxValueValidator(90)]
    )
    # Denormalised from the practice, so a search is one table plus its joins.
    state = models.CharField(max_length=2, choices=STATE_CHOICES)
    city_key = models.CharField(max_length=100, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    search_name = models.CharField(max_length=400, blank=True)
    search_text = models.TextField(blank=True)
    published = models.BooleanField(default=False)
    visible = models.BooleanField(
        default=False, help_text="Published and the practice published: what the public sees."
    )
    updated_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["visible", "latitude", "longitude"], name="dir_clin_geo"),
            models.Index(fields=["visible", "city_key"], name="dir_clin_city"),
            models.Index(fields=["visible", "display_name", "id"], name="dir_clin_name"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_min__isnull=True)
                | models.Q(price_max__isnull=True)
                | models.Q(price_max__gte=models.F("price_min")),
                name="dir_clin_price_range",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def modality_list(self) -> list[str]:
        return codes_list(self.modalities)

    def condition_list(self) -> list[str]:
        return codes_list(self.conditions)

    def insurance_list(self) -> list[str]:
        return codes_list(self.insurance)

    def language_list(self) -> list[str]:
        return codes_list(self.languages)


class InquiryStatus(models.TextChoices):
    PENDING = "pending", "Waiting for e-mail confirmation"
    CONFIRMED = "confirmed", "Confirmed: new inquiry"
    CONTACTED = "contacted", "Contacted"
    BOOKED = "booked", "Consultation booked"
    CONVERTED = "converted", "Became a client"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled by the person"
    EXPIRED = "expired", "Not confirmed in time"


LIVE_HOLD_STATUSES = (InquiryStatus.PENDING, InquiryStatus.CONFIRMED, InquiryStatus.CONTACTED)


class Inquiry(models.Model):
    """A request for a free consultation from the public form. Holds PHI (name, contact,
    the pre-screen), so it is read only by the practice's staff; its links carry an opaque
    token whose hash alone is stored."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    clinician = models.ForeignKey(
        ClinicianProfile, on_delete=models.PROTECT, related_name="inquiries"
    )
    prescriber = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=30, blank=True)
    date_of_birth = models.DateField()
    client_state = models.CharField("State you live in", max_length=2, choices=STATE_CHOICES)
    message = models.TextField(max_length=2000, blank=True)
    prescreen = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=40, default="directory")
    status = models.CharField(
        max_length=20, choices=InquiryStatus.choices, default=InquiryStatus.PENDING
    )
    slot_starts_at = models.DateTimeField(null=True, blank=True)
    slot_ends_at = models.DateTimeField(null=True, blank=True)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)
    address_hash = models.CharField(max_length=64, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "status", "created_at"], name="dir_inq_org"),
            models.Index(fields=["clinician", "slot_starts_at"], name="dir_inq_slot"),
            models.Index(fields=["status", "hold_expires_at"], name="dir_inq_hold"),
        ]

    def __str__(self) -> str:
        return f"Inquiry #{self.pk}"
