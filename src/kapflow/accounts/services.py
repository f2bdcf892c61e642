"""Write paths for people and organisations: invitations, roles, credentials, MFA, tokens.

Each function is one use case, runs in one transaction and writes its audit row there.
E-mails go out after commit, through a background task that receives ids only.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.crypto import code_hash
from kapflow.accounts.models import (
    ApiToken,
    ApiTokenMfa,
    ApiTokenScope,
    AuthenticatorDevice,
    ClinicianLicence,
    Invitation,
    Membership,
    MembershipRole,
    RecoveryCode,
    RecoveryCodeDevice,
    Role,
    TrainingCertificate,
    User,
    hash_secret,
)
from kapflow.audit.services import audit_not_found, audit_record, audit_record_account
from kapflow.core import clock
from kapflow.core.bounds import DateKind, check_date
from kapflow.core.errors import DomainError, NotFound
from kapflow.core.names import check_names


def _clean_roles(roles) -> list[str]:
    cleaned = sorted({str(r) for r in roles})
    if not cleaned:
        raise ValidationError({"roles": "Choose at least one role."})
    unknown = [r for r in cleaned if r not in Role.values]
    if unknown:
        raise ValidationError({"roles": f"Unknown role: {', '.join(unknown)}."})
    return cleaned


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, roles: list[str]) -> Invitation:
    """Invite someone to the actor's organisation. The e-mail task mints the link's token, so
    no secret travels through the task queue; only its hash is stored."""
    if not policy.can_manage_members(actor):
        raise NotFound()
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": "Enter a valid e-mail address."}) from exc
    roles = _clean_roles(roles)
    if Membership.objects.filter(
        organisation=actor.organisation, user__email__iexact=email, is_active=True
    ).exists():
        raise ValidationError({"email": "This person is already a member of the organisation."})
    invitation = Invitation(
        organisation=actor.organisation,
        email=email,
        roles=roles,
        token_hash=hash_secret(secrets.token_urlsafe(32)),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.KAPFLOW_INVITATION_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    audit_record(actor=actor, action="invitation.create", target=invitation)
    from kapflow.accounts.tasks import invitation_send

    invitation_id = invitation.pk
    transaction.on_commit(lambda: invitation_send.enqueue(invitation_id))
    return invitation


def _pending_invitation_for_update(*, actor: Membership, invitation_id: int, verb: str):
    invitation = None
    if policy.can_manage_members(actor):
        invitation = (
            Invitation.objects.for_org(actor.organisation)
            .select_for_update()
            .filter(pk=invitation_id)
        ).first()
    if invitation is None:
        raise audit_not_found(actor=actor, model=Invitation, object_id=invitation_id)
    if invitation.status != "pending":
        raise DomainError(
            f"Only a pending invitation can be {verb}.", code="invitation.not_pending"
        )
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation_id: int) -> Invitation:
    invitation = _pending_invitation_for_update(
        actor=actor, invitation_id=invitation_id, verb="revoked"
    )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="invitation.revoke", target=invitation)
    return invitation


@transaction.atomic
def invitation_resend(*, actor: Membership, invitation_id: int) -> Invitation:
    """Send a pending invitation again with a fresh link (the old link stops working)."""
    invitation = _pending_invitation_for_update(
        actor=actor, invitation_id=invitation_id, verb="sent again"
    )
    audit_record(actor=actor, action="invitation.resend", target=invitation)
    from kapflow.accounts.tasks import invitation_send

    transaction.on_commit(lambda: invitation_send.enqueue(invitation.pk))
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str, user: User | None, full_name: str = "", password: str = ""
) -> Membership:
    """Accept an invitation. A new person sets their name and password here; an existing
    account must be signed in as the invited address."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organisation")
        .filter(token_hash=hash_secret(token))
        .first()
    )
    if invitation is None or invitation.status != "pending":
        raise NotFound("This invitation link is not valid any more. Ask for a new one.")
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        if user is None or user.pk != existing.pk:
            raise DomainError(
                "Sign in as the invited address first, then open the link again.",
                code="invitation.sign_in_first",
            )
        account = existing
    else:
        errors = {}
        if not full_name.strip():
            errors["full_name"] = "Enter your name."
        try:
            check_names({"full_name": full_name}, {"full_name": "Your full name"})
        except ValidationError as exc:
            errors.update(exc.message_dict)
        candidate = User(email=invitation.email, full_name=full_name.strip())
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            errors["password"] = exc.messages
        if errors:
            raise ValidationError(errors)
        account = User.objects.create_user(invitation.email, password, full_name=full_name.strip())
    membership, _ = Membership.objects.get_or_create(
        organisation=invitation.organisation, user=account
    )
    if not membership.is_active:
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    for role in invitation.roles:
        MembershipRole.objects.get_or_create(membership=membership, role=role)
    from kapflow.patients.services import companion_link_on_accept

    companion_link_on_accept(invitation=invitation, account=account)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    membership = (
        Membership.objects.prefetch_related("roles")
        .select_related("organisation", "user")
        .get(pk=membership.pk)
    )
    audit_record(actor=membership, action="invitation.accept", target=invitation)
    return membership


def _member_for_update(actor: Membership, membership_id: int) -> Membership:
    """A member of the admin's organisation, locked; else NotFound (recorded as a denied
    access for the organisation holding the id)."""
    membership = None
    if policy.can_manage_members(actor):
        membership = (
            Membership.objects.for_org(actor.organisation)
            .select_for_update()
            .filter(pk=membership_id)
        ).first()
    if membership is None:
        raise audit_not_found(actor=actor, model=Membership, object_id=membership_id)
    return membership


@transaction.atomic
def membership_set_roles(*, actor: Membership, membership_id: int, roles: list[str]) -> Membership:
    membership = _member_for_update(actor, membership_id)
    roles = _clean_roles(roles)
    if membership.pk == actor.pk and Role.PRACTICE_ADMIN not in roles:
        raise ValidationError(
            {"roles": "You cannot remove your own admin role; ask another admin."}
        )
    MembershipRole.objects.filter(membership=membership).exclude(role__in=roles).delete()
    for role in roles:
        MembershipRole.objects.get_or_create(membership=membership, role=role)
    audit_record(
        actor=actor, action="membership.set_roles", target=membership, changed_fields=["roles"]
    )
    return membership


@transaction.atomic
def membership_deactivate(*, actor: Membership, membership_id: int) -> Membership:
    membership = _member_for_update(actor, membership_id)
    if membership.pk == actor.pk:
        raise DomainError("You cannot deactivate yourself.", code="membership.self")
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    audit_record(actor=actor, action="membership.deactivate", target=membership)
    return membership


CREDENTIAL_HORIZON_YEARS = 5


@transaction.atomic
def licence_add(*, actor: Membership, membership: Membership, data: dict) -> ClinicianLicence:
    if not policy.can_edit_credentials(actor, membership):
        raise NotFound()
    licence = ClinicianLicence(user=membership.user, **data)
    licence.full_clean()
    # An expired licence may be recorded (it simply covers no client); a future expiry lies
    # within one renewal cycle (state licences and DEA registrations renew every 1 to 4 years).
    check_date(
        "expires_on", licence.expires_on, organisation=membership.organisation,
        kind=DateKind.PLANNED, horizon_years=CREDENTIAL_HORIZON_YEARS,
    )  # fmt: skip
    licence.save()
    # Whether a course's clinicians are licensed where its client lives is a stored fact.
    from kapflow.courses.services import course_facts_refresh

    course_facts_refresh(user_id=licence.user_id)
    audit_record(actor=actor, action="licence.add", target=licence)
    return licence


@transaction.atomic
def certificate_add(
    *, actor: Membership, membership: Membership, data: dict
) -> TrainingCertificate:
    if not policy.can_edit_credentials(actor, membership):
        raise NotFound()
    certificate = TrainingCertificate(user=membership.user, **data)
    certificate.full_clean()
    if certificate.expires_on and certificate.expires_on < certificate.issued_on:
        raise ValidationError({"expires_on": "The expiry date is before the issue date."})
    check_date(
        "issued_on", certificate.issued_on, organisation=membership.organisation,
        kind=DateKind.HAPPENED,
    )  # fmt: skip
    check_date(
        "expires_on", certificate.expires_on, organisation=membership.organisation,
        kind=DateKind.PLANNED, horizon_years=CREDENTIAL_HORIZON_YEARS,
    )  # fmt: skip
    certificate.save()
    audit_record(actor=actor, action="certificate.add", target=certificate)
    return certificate


# ---- MFA ------------------------------------------------------------------------------------


def totp_device_pending(*, user: User) -> AuthenticatorDevice:
    """The unconfirmed device shown as a QR code during enrolment (reused on reload)."""
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = AuthenticatorDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False
        )
    return device


@transaction.atomic
def totp_confirm(*, user: User, token: str, actor: Membership | None = None) -> list[str]:
    """Confirm enrolment with a code from the app; returns fresh recovery codes (shown once)."""
    device = (
        AuthenticatorDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    )
    if device is None:
        raise DomainError("Start enrolment again.", code="mfa.no_pending_device")
    if not device.verify_token((token or "").replace(" ", "")):
        raise ValidationError({"token": "That code did not match. Check the app's clock."})
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    AuthenticatorDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    audit_record(actor=actor, action="mfa.enrol", target=device)
    return recovery_codes_generate(user=user)


def recovery_code_new() -> str:
    """Four groups of four characters from 31 that cannot be misread (no i, l, o, 0, 1):
    79 random bits, enough for a fast hash at rest (decision 0034)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


@transaction.atomic
def recovery_codes_generate(*, user: User) -> list[str]:
    """Replace the user's recovery codes; each works once. Only their hashes are kept."""
    device, _ = RecoveryCodeDevice.objects.get_or_create(user=user, name="Recovery codes")
    device.codes.all().delete()
    codes = [recovery_code_new() for _ in range(settings.KAPFLOW_RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(device=device, code_hash=code_hash(c)) for c in codes]
    )
    return codes


def mfa_device_for_code(*, user: User, code: str):
    """The confirmed device a typed code is for: digits are an app code, anything else a
    recovery code. None when no such device is enrolled."""
    code = "".join((code or "").split())
    model = AuthenticatorDevice if code.isdigit() else RecoveryCodeDevice
    return model.objects.filter(user=user, confirmed=True).first()


def has_authenticator(user: User) -> bool:
    return AuthenticatorDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def field_secrets_reencrypt() -> int:
    """Rewrite every encrypted seed under the first KAPFLOW_FIELD_KEYS key; returns the
    count. Rows are locked so that a sign-in cannot write an old value back meanwhile."""
    count = 0
    for device in AuthenticatorDevice.objects.select_for_update().order_by("pk"):
        # Loading decrypted with whichever key fits; saving encrypts with the first.
        device.save(update_fields=["key"])
        count += 1
    return count


# ---- API tokens -----------------------------------------------------------------------------


@transaction.atomic
def api_token_create(
    *,
    actor: Membership,
    name: str,
    mfa_verified: bool,
    scope: str = ApiTokenScope.READ_WRITE,
    days: int | None = None,
) -> tuple[ApiToken, str]:
    """A bearer token for the actor's membership, shown once. It lasts `days` (default
    KAPFLOW_API_TOKEN_DEFAULT_DAYS, at most a year) and records whether the session that
    made it had passed MFA: outside demo mode only such tokens work (decision 0034)."""
    if not policy.is_staff_actor(actor):
        raise NotFound()
    errors = {}
    if not (name or "").strip():
        errors["name"] = "Name the token so you can recognise it later."
    if scope not in ApiTokenScope.values:
        errors["scope"] = "Choose read only or read and write."
    days = settings.KAPFLOW_API_TOKEN_DEFAULT_DAYS if days is None else days
    if not isinstance(days, int) or not 1 <= days <= settings.KAPFLOW_API_TOKEN_MAX_DAYS:
        errors["days"] = f"A token lasts from 1 to {settings.KAPFLOW_API_TOKEN_MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)
    if mfa_verified:
        mfa = ApiTokenMfa.VERIFIED
    elif settings.KAPFLOW_DEMO_MODE:
        mfa = ApiTokenMfa.DEMO_SKIPPED
    else:
        # Staff pass MFA before they reach the security page or the API outside demo mode;
        # reaching here without it is a bug, not a reason to mint a token.
        raise DomainError("Verify your sign-in with MFA first.", code="mfa.required")
    now = clock.now()
    raw = "kf_" + secrets.token_urlsafe(32)
    token = ApiToken(
        membership=actor,
        name=name.strip()[:100],
        prefix=raw[3:11],
        token_hash=hash_secret(raw),
        scope=scope,
        mfa=mfa,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    token.full_clean()
    token.save()
    audit_record(actor=actor, action="api_token.create", target=token)
    return token, raw


def api_token_refusal(token: ApiToken) -> str | None:
    """Why a stored, unrevoked token may not be used now, or None when it may."""
    if token.expires_at <= clock.now():
        return "expired"
    if token.mfa != ApiTokenMfa.VERIFIED and not settings.KAPFLOW_DEMO_MODE:
        return "made_without_mfa"
    return None


# A token's last use is kept to within this interval, so a read writes no row of its own
# beyond its audit event (decision 0042); the audit trail records every use.
API_TOKEN_USE_INTERVAL = timedelta(minutes=5)


def api_token_used(*, token: ApiToken, now: datetime) -> bool:
    """Record a use of the token when the last one recorded (or, if none is, the token's
    making) is API_TOKEN_USE_INTERVAL or more ago. So a token used only in the minutes
    after it was made shows as not used yet until its next use; a read costs the same
    statements whether or not it is the token's first. Returns whether it wrote. The UPDATE
    repeats the test, so concurrent requests write once between them."""
    since = now - API_TOKEN_USE_INTERVAL
    if (token.last_used_at or token.created_at) > since:
        return False
    written = (
        ApiToken.objects.filter(pk=token.pk)
        .filter(Q(last_used_at__lte=since) | Q(last_used_at__isnull=True, created_at__lte=since))
        .update(last_used_at=now)
    )
    token.last_used_at = now
    return bool(written)


@transaction.atomic
def api_token_revoke(*, actor: Membership, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id, membership=actor).first()
    if token is None:
        raise audit_not_found(actor=actor, model=ApiToken, object_id=token_id)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="api_token.revoke", target=token)
    return token


@transaction.atomic
def time_zone_set(*, user: User, time_zone: str, actor: Membership | None = None) -> User:
    """The person's own time zone (IANA name; blank: their organisation's). Pages show every
    time in it; stored times stay UTC."""
    from kapflow.accounts.models import validate_time_zone

    time_zone = (time_zone or "").strip()
    if time_zone:
        try:
            validate_time_zone(time_zone)
        except ValidationError as exc:
            raise ValidationError({"time_zone": exc.messages[0]}) from exc
    user = User.objects.select_for_update().get(pk=user.pk)
    user.time_zone = time_zone
    user.save(update_fields=["time_zone"])
    audit_record(actor=actor, action="user.time_zone", target=user, changed_fields=["time_zone"])
    return user


# ---- passwords ------------------------------------------------------------------------------


def _organisation_ids(user: User) -> list[int]:
    return list(
        Membership.objects.filter(user=user, is_active=True).values_list(
            "organisation_id", flat=True
        )
    )


@transaction.atomic
def password_change(*, user: User, current_password: str, new_password: str) -> User:
    """The signed-in person changes their password; the current one is asked first."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(current_password or ""):
        raise ValidationError({"old_password": "That is not your current password."})
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise ValidationError({"new_password1": exc.messages}) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record_account(
        action="password.change",
        user_id=user.pk,
        organisation_ids=_organisation_ids(user),
        acted=True,
    )
    return user


class ResetLimited(DomainError):
    code = "password_reset.too_many"


def _reset_count(key: str, limit: int) -> bool:
    """Count one request against `key` for an hour; True while within `limit`."""
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count <= limit


def password_reset_request(*, email: str, ip_address: str | None) -> None:
    """Someone asks for a reset link for `email`. The answer is the same whether or not an
    account has that address; a link goes out only for an active account and within the
    limits (KAPFLOW_PASSWORD_RESET_PER_EMAIL per address, ..._PER_IP per client address,
    each per hour). Over the address's limit nothing is sent, silently; over the client
    address's limit the caller is told to wait (ResetLimited). Each outcome is audited."""
    normalised = "".join((email or "").split()).casefold()
    ip_key = f"kapflow:reset:ip:{hash_secret(ip_address or '-')}"
    ip_ok = _reset_count(ip_key, settings.KAPFLOW_PASSWORD_RESET_PER_IP)
    user = User.objects.filter(email__iexact=normalised, is_active=True).first()
    address_ok = ip_ok and _reset_count(
        f"kapflow:reset:email:{hash_secret(normalised)}",
        settings.KAPFLOW_PASSWORD_RESET_PER_EMAIL,
    )
    with transaction.atomic():
        audit_record_account(
            action="password.reset_request" if address_ok else "password.reset_limited",
            user_id=user.pk if user else None,
            organisation_ids=_organisation_ids(user) if user else [None],
            acted=False,
            subject="" if user else normalised,
        )
        if address_ok and user is not None:
            from kapflow.accounts.tasks import password_reset_send

            user_id = user.pk
            transaction.on_commit(lambda: password_reset_send.enqueue(user_id))
    if not ip_ok:
        raise ResetLimited("Too many reset requests from this network. Try again in an hour.")


@transaction.atomic
def password_reset_complete(*, user: User, new_password: str) -> User:
    """Set a new password from a valid reset link (Django's token: an hour, and void once the
    password changes). It does not sign the person in: they sign in, and staff pass MFA."""
    user = User.objects.select_for_update().get(pk=user.pk)
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise ValidationError({"new_password1": exc.messages}) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record_account(
        action="password.reset",
        user_id=user.pk,
        organisation_ids=_organisation_ids(user),
        acted=True,
    )
    return user
