"""People, organisations, memberships with roles, invitations, credentials and API tokens.

Workflows live in services.py; this module holds fields and the invariants the database can
enforce.
"""

import hashlib
from base64 import b32encode
from binascii import unhexlify
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP
from django_otp.util import random_hex

from kapflow.accounts.crypto import EncryptedTextField, code_hash
from kapflow.clinical.geography import US_STATES
from kapflow.core.models import TenantQuerySet

STATE_CHOICES = sorted(US_STATES.items(), key=lambda item: item[1])


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


def validate_time_zone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.core.exceptions import ValidationError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("Choose a time zone such as America/Chicago.") from exc


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. `is_staff` means platform staff (Django admin), not practice
    staff: practice roles come from memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    npi = models.CharField(
        "NPI", max_length=10, blank=True, help_text="National Provider Identifier (Type 1)."
    )
    # IANA zone the person sees times in; blank: their client record's state, else their
    # organisation's zone (kapflow.core.timezones.viewer_zone).
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.full_name or self.email

    def clean(self):
        from django.core.exceptions import ValidationError

        from kapflow.core.names import check_names

        super().clean()
        self.email = self.email.strip().lower()
        check_names({"full_name": self.full_name}, {"full_name": "Full name"})
        if self.npi and (not self.npi.isdigit() or len(self.npi) != 10):
            raise ValidationError({"npi": "An NPI is exactly 10 digits."})


class OrganisationKind(models.TextChoices):
    PRACTICE = "practice", "Therapy practice"
    PARTNER = "partner", "Prescribing partner"


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    kind = models.CharField(max_length=20, choices=OrganisationKind.choices)
    phone = models.CharField(max_length=40, blank=True)
    address = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=2, choices=STATE_CHOICES, blank=True)
    npi = models.CharField("Group NPI", max_length=10, blank=True)
    # IANA zone of the practice's office (rooms, availability); blank: from `state`.
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class Partnership(models.Model):
    """A therapy practice refers clients to a prescribing partner (seeds 001, 002, 004)."""

    practice = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="partnerships_as_practice"
    )
    partner = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="partnerships_as_partner"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practice", "partner"], name="partnership_unique")
        ]

    def __str__(self):
        return f"{self.practice} → {self.partner}"


class Role(models.TextChoices):
    PRACTICE_ADMIN = "practice_admin", "Practice admin"
    THERAPIST = "therapist", "Therapist"
    PRESCRIBER = "prescriber", "Prescriber"
    BILLER = "biller", "Biller"
    CLIENT = "client", "Client"
    COMPANION = "companion", "Companion"


STAFF_ROLES = frozenset({Role.PRACTICE_ADMIN, Role.THERAPIST, Role.PRESCRIBER, Role.BILLER})
CLINICIAN_ROLES = frozenset({Role.THERAPIST, Role.PRESCRIBER})


class Membership(models.Model):
    """A user's place in one organisation. Roles are rows of MembershipRole so that a person
    can hold several (an owner who is also a therapist)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    title = models.CharField(
        max_length=100, blank=True, help_text="Shown to colleagues, e.g. LMFT, PMHNP."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")
        ]
        indexes = [models.Index(fields=["organisation", "is_active"])]

    def __str__(self):
        return f"{self.user} @ {self.organisation}"

    @property
    def role_set(self) -> frozenset[str]:
        # Callers prefetch "roles"; this reads the prefetched rows without a query.
        cached = getattr(self, "_role_set", None)
        if cached is None:
            cached = frozenset(r.role for r in self.roles.all())
            self._role_set = cached
        return cached

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_set.intersection(roles))

    @property
    def is_staff_member(self) -> bool:
        return bool(self.role_set & STAFF_ROLES)

    def role_labels(self) -> list[str]:
        return [Role(r).label for r in sorted(self.role_set)]


class MembershipRole(models.Model):
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "role"], name="membership_role_unique")
        ]
        indexes = [models.Index(fields=["role", "membership"])]

    def __str__(self):
        return self.get_role_display()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Invitation(models.Model):
    """An e-mailed invitation to join an organisation. The link carries an opaque token; only
    its hash is stored."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="invitations"
    )
    email = models.EmailField()
    roles = models.JSONField(default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A portal invitation: the client record the account will open (role client), or the
    # client the invited person will be a companion for (role companion).
    client = models.ForeignKey(
        "patients.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    companion_relationship = models.CharField(max_length=100, blank=True)
    companion_date_of_birth = models.DateField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["organisation", "created_at"])]

    def __str__(self):
        return f"Invitation {self.pk} to {self.organisation}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class LicenceType(models.TextChoices):
    MD = "MD", "MD (physician)"
    DO = "DO", "DO (physician)"
    NP = "NP", "Nurse practitioner (incl. PMHNP)"
    PA = "PA", "Physician assistant"
    RN = "RN", "Registered nurse"
    PSYD = "PsyD", "Psychologist (PsyD)"
    PHD = "PhD", "Psychologist (PhD)"
    LCSW = "LCSW", "Licensed clinical social worker"
    LMFT = "LMFT", "Licensed marriage and family therapist"
    LPC = "LPC", "Licensed professional counselor"
    LMHC = "LMHC", "Licensed mental health counselor"
    OTHER = "other", "Other"


class ClinicianLicence(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="licences")
    licence_type = models.CharField(max_length=10, choices=LicenceType.choices)
    state = models.CharField(max_length=2, choices=STATE_CHOICES)
    number = models.CharField(max_length=50)
    expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "state", "licence_type", "number"], name="licence_unique"
            )
        ]

    def __str__(self):
        return f"{self.licence_type} {self.state} {self.number}"


class TrainingCertificate(models.Model):
    """KAP training and certification (seed 001: clinicians are trained and certified in KAP)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="certificates")
    name = models.CharField(max_length=200)
    issuer = models.CharField(max_length=200)
    issued_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)

    def __str__(self):
        return self.name


class ApiTokenScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiTokenMfa(models.TextChoices):
    """How the session that created the token had signed in (decision 0034)."""

    VERIFIED = "verified", "After MFA"
    DEMO_SKIPPED = "demo_skipped", "Demo mode, without MFA"
    UNKNOWN = "unknown", "Unknown (made before this was recorded)"


class ApiToken(models.Model):
    """A bearer token for /api/v1, bound to one membership. Only the hash is stored; the token
    is shown once when created. Outside demo mode only tokens made after MFA work."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8)
    token_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(
        max_length=12, choices=ApiTokenScope.choices, default=ApiTokenScope.READ_WRITE
    )
    mfa = models.CharField(
        "MFA at creation", max_length=12, choices=ApiTokenMfa.choices, default=ApiTokenMfa.UNKNOWN
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="api_token_expires_after_creation",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


def totp_default_key() -> str:
    return random_hex(20)


class AuthenticatorDevice(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (RFC 6238 TOTP, SHA-1, 6 digits, 30 s), as django-otp's
    TOTPDevice but with the seed encrypted at rest (decision 0034): `key` is the hex seed in
    Python and Fernet ciphertext in the table."""

    key = EncryptedTextField(default=totp_default_key)
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    # The time step of the last code accepted: a code is good once.
    last_t = models.BigIntegerField(default=-1)

    class Meta(Device.Meta):
        verbose_name = "TOTP device"

    @property
    def bin_key(self) -> bytes:
        return unhexlify(self.key.encode())

    def get_throttle_factor(self):
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        from kapflow.core import clock

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            code = int(str(token).strip())
        except ValueError:
            code = None
        verified = False
        if code is not None:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = clock.now().timestamp()
            verified = totp.verify(code, self.tolerance, self.last_t + 1)
        if verified:
            self.last_t = totp.t()
            self.drift = totp.drift
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment(commit=True)
        return verified

    @property
    def config_url(self) -> str:
        """The otpauth:// URI an authenticator app scans (Google's Key Uri Format)."""
        issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "kapflow")).replace(":", "")
        label = f"{issuer}:{self.user.get_username()}"
        params = urlencode(
            {
                "secret": b32encode(self.bin_key),
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        return f"otpauth://totp/{quote(label)}?{params}&issuer={quote(issuer)}"


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """The person's single-use recovery codes. Only each code's hash is stored."""

    class Meta(Device.Meta):
        verbose_name = "recovery code set"

    def get_throttle_factor(self):
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        match = self.codes.filter(code_hash=code_hash(str(token))).first()
        if match is None:
            self.throttle_increment()
            return False
        match.delete()
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, db_index=True)

    def __str__(self):
        return f"Recovery code {self.pk}"
