"""Client write paths: create, update, care-team changes.

Permissions come from kapflow.policy, the licensure rule from kapflow.clinical.licensure.
Each function is one transaction with its audit row; nothing here knows HTTP.
"""

import logging
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership, Role
from kapflow.accounts.selectors import licences_of
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical.licensure import LicenceFinding, licence_findings
from kapflow.core import clock
from kapflow.core.bounds import DateKind, check_date
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import (
    EMERGENCY_DEFAULT_MINUTES,
    CareTeamMember,
    CareTeamRole,
    Client,
    Companion,
    CompanionCheckin,
    EmergencyAccess,
    EmergencyEnd,
    EmergencyReason,
)
from kapflow.patients.selectors import client_get_for_update

logger = logging.getLogger(__name__)

CLIENT_FIELDS = (
    "legal_first_name",
    "legal_last_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
)


@transaction.atomic
def client_create(*, actor: Membership, data: dict) -> Client:
    """Create a client in the actor's practice. A therapist who creates a client joins the
    care team as primary therapist, so they keep seeing the record."""
    if not policy.can_create_client(actor):
        raise NotFound()
    unknown = set(data) - set(CLIENT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    client = Client(organisation=actor.organisation, **data)
    client.full_clean()
    _check_birth(client)
    client.save()
    audit_record(
        actor=actor,
        action="client.create",
        target=client,
        client_id=client.pk,
        changed_fields=list(data),
    )
    if actor.has_role(Role.THERAPIST):
        care_team_grant(
            actor=actor, client=client, membership=actor, role="therapist", is_primary=True
        )
    return client


@transaction.atomic
def client_update(*, actor: Membership, client_id: int, data: dict) -> Client:
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_edit_client(actor, client):
        # The actor can see this client (else NotFound above) but may not change it.
        raise PermissionDenied("You may view this client but not change their details.")
    unknown = set(data) - set(CLIENT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    changed = [f for f, v in data.items() if getattr(client, f) != v]
    for field, value in data.items():
        setattr(client, field, value)
    client.full_clean()
    _check_birth(client)
    if changed:
        client.updated_at = timezone.now()
        client.save()
    if "state" in changed:
        # The clinicians' licences are read for the client's state (a stored course fact).
        from kapflow.courses.facts import course_facts_refresh

        course_facts_refresh(client_id=client.pk)
    audit_record(
        actor=actor,
        action="client.update",
        target=client,
        client_id=client.pk,
        changed_fields=changed,
    )
    return client


def _check_birth(client: Client) -> None:
    """A date of birth is a real one: from 1900 to today (every other date about the client
    is bounded below by it, so 0001-01-01 here would unbound them all)."""
    check_date(
        "date_of_birth", client.date_of_birth, organisation=client.organisation,
        kind=DateKind.BIRTH,
    )  # fmt: skip


def care_team_licence_findings(*, membership: Membership, client: Client) -> list[LicenceFinding]:
    return licence_findings(
        licences_of(membership.user_id),
        state=client.state,
        today=clock.clinical_date(client.organisation),
    )


# ---- care-team grants: the one write path (issue 20) -------------------------------------------
# A grant is what lets a clinician see a client (policy.clients_scope). Every place that gives
# or ends one (the care-team page, a course opened, a referral sent or declined, a course
# closed, the front door's intake) calls these two, inside its own transaction: the row is
# validated, carries its licence warning, and is audited.


def care_team_grant(
    *, actor: Membership | None, client: Client, membership: Membership, role: str,
    is_primary: bool = False, now=None,
) -> CareTeamMember:  # fmt: skip
    """Put `membership` on the client's care team in `role`, or return the open grant it
    already holds in that role, unchanged (`is_primary` too: the care-team page decides who
    is primary). `actor` None: the
    system grants it (a request from the public directory), recorded as added by the
    clinician themself."""
    current = CareTeamMember.objects.filter(
        client=client, membership=membership, role=role, ended_at__isnull=True
    ).first()
    if current is not None:
        return current
    findings = care_team_licence_findings(membership=membership, client=client)
    member = CareTeamMember(
        organisation=client.organisation,
        client=client,
        membership=membership,
        role=role,
        is_primary=is_primary,
        added_by=(actor or membership).user,
        added_at=now or clock.now(),
        licence_warning=" ".join(f.message for f in findings)[:300],
    )
    member.full_clean()
    member.save()
    audit_record(actor=actor, action="care_team.add", target=member, client_id=client.pk)
    return member


def care_team_end(
    *, actor: Membership, client: Client, membership_id: int, role: str, reason: str, now=None
) -> int:
    """End the open grant `membership_id` holds in `role` on the client's care team, if any
    (access goes with it; the row stays as history). Returns how many ended (0 or 1)."""
    members = CareTeamMember.objects.select_for_update().filter(
        client=client, membership_id=membership_id, role=role, ended_at__isnull=True
    )
    for member in members:
        _care_team_close(actor=actor, member=member, reason=reason, now=now)
    return len(members)


def _care_team_close(*, actor: Membership, member: CareTeamMember, reason: str, now=None) -> None:
    member.ended_at = now or clock.now()
    member.ended_reason = reason.strip()[:500]
    member.save(update_fields=["ended_at", "ended_reason"])
    audit_record(actor=actor, action="care_team.remove", target=member, client_id=member.client_id)


@transaction.atomic
def care_team_add(
    *,
    actor: Membership,
    client_id: int,
    membership_id: int,
    role: str,
    is_primary: bool = False,
    acknowledge_warnings: bool = False,
) -> tuple[CareTeamMember, list[LicenceFinding]]:
    """Add a clinician to the client's care team.

    Licensure problems are warnings, not blocks (the licensed person decides): the first call
    returns DomainError `care_team.licence_warning` listing them; calling again with
    acknowledge_warnings=True records the assignment and keeps the warning text on the row.
    """
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_manage_care_team(actor, client):
        raise PermissionDenied("You may view this client but not change their care team.")
    if role not in CareTeamRole.values:
        raise ValidationError({"role": "Choose therapist or prescriber."})
    membership = (
        policy.assignable_clinicians_queryset(actor, client)
        .select_related("user", "organisation")
        .prefetch_related("roles")
        .filter(pk=membership_id)
        .first()
    )
    if membership is None:
        raise ValidationError({"membership": "Choose a clinician from the list."})
    if not membership.has_role(role):
        raise ValidationError({"role": f"This person does not hold the {role} role."})
    if CareTeamMember.objects.filter(
        client=client, membership=membership, role=role, ended_at__isnull=True
    ).exists():
        raise ValidationError({"membership": "This clinician is already on the care team."})
    findings = care_team_licence_findings(membership=membership, client=client)
    if findings and not acknowledge_warnings:
        raise DomainError(
            "Licensure: " + " ".join(f.message for f in findings),
            code="care_team.licence_warning",
            field="membership",
        )
    if is_primary:
        CareTeamMember.objects.filter(
            client=client, role=role, ended_at__isnull=True, is_primary=True
        ).update(is_primary=False)
    member = care_team_grant(
        actor=actor, client=client, membership=membership, role=role, is_primary=is_primary
    )
    return member, findings


@transaction.atomic
def care_team_remove(*, actor: Membership, client_id: int, member_id: int, reason: str) -> None:
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_manage_care_team(actor, client):
        raise PermissionDenied("You may view this client but not change their care team.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why this clinician leaves the care team."})
    member = CareTeamMember.objects.select_for_update().filter(pk=member_id, client=client).first()
    if member is None:
        raise audit_not_found(actor=actor, model=CareTeamMember, object_id=member_id)
    if member.ended_at is not None:
        raise NotFound()
    _care_team_close(actor=actor, member=member, reason=reason)


# ---- the portal: the client's account, companions, check-ins --------------------------------

COMPANION_MIN_AGE = 18  # seed 000: a trusted adult


def _portal_invitation(
    *, organisation, email, roles, client, invited_by, relationship="", date_of_birth=None
):
    from datetime import timedelta

    from django.conf import settings

    from kapflow.accounts.models import Invitation, hash_secret

    invitation = Invitation(
        organisation=organisation, email=email, roles=roles, client=client,
        companion_relationship=relationship, companion_date_of_birth=date_of_birth,
        token_hash=hash_secret(secrets.token_urlsafe(32)),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=settings.KAPFLOW_INVITATION_DAYS),
    )  # fmt: skip
    invitation.full_clean()
    invitation.save()
    from kapflow.accounts.tasks import invitation_send

    invitation_id = invitation.pk
    transaction.on_commit(lambda: invitation_send.enqueue(invitation_id))
    return invitation


@transaction.atomic
def client_portal_invite(*, actor: Membership, client_id: int):
    """Invite the client to their portal at the e-mail address on their record. The practice's
    admins and the client's therapists may; the link opens this record only."""
    from kapflow.accounts.models import Invitation

    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_edit_client(actor, client):
        raise PermissionDenied("Only the practice's admins and the client's therapists invite.")
    if client.user_id is not None:
        raise DomainError("The client already has a portal account.", code="portal.exists")
    if not client.email:
        raise ValidationError({"email": "Add the client's e-mail address to their record first."})
    pending = [
        i.pk
        for i in Invitation.objects.filter(
            client=client, accepted_at__isnull=True, revoked_at__isnull=True
        )
        if "client" in i.roles
    ]
    # A new link replaces any earlier one.
    Invitation.objects.filter(pk__in=pending).update(revoked_at=timezone.now())
    invitation = _portal_invitation(
        organisation=client.organisation, email=client.email.lower(), roles=["client"],
        client=client, invited_by=actor.user,
    )  # fmt: skip
    audit_record(actor=actor, action="portal.invite_client", target=invitation, client_id=client.pk)
    return invitation


@transaction.atomic
def companion_invite(
    *, actor: Membership, email: str, relationship: str, date_of_birth, full_name: str = ""
):
    """The client names a companion: a trusted adult (18+) who will be present during at-home
    sessions. They get an invitation to a companion account that shows no clinical data."""
    from django.core.validators import validate_email

    from kapflow.clinical.course import age_on

    client = own_client_record_for_update(actor)
    errors = {}
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter your companion's e-mail address."
    if email and email == (actor.user.email or "").lower():
        errors["email"] = "Your companion must be someone else."
    if not (relationship or "").strip():
        errors["relationship"] = "Say how you know them (for example: partner, friend, sister)."
    if date_of_birth is None:
        errors["date_of_birth"] = "Enter their date of birth: companions must be adults."
    elif age_on(date_of_birth, clock.clinical_date(actor.organisation)) < COMPANION_MIN_AGE:
        errors["date_of_birth"] = "A companion must be 18 or older."
    if errors:
        raise ValidationError(errors)
    check_date(
        "date_of_birth", date_of_birth, organisation=client.organisation, kind=DateKind.BIRTH
    )
    if Companion.objects.filter(client=client, user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already your companion."})
    invitation = _portal_invitation(
        organisation=client.organisation, email=email, roles=["companion"], client=client,
        invited_by=actor.user, relationship=relationship.strip()[:100],
        date_of_birth=date_of_birth,
    )  # fmt: skip
    audit_record(actor=actor, action="companion.invite", target=invitation, client_id=client.pk)
    return invitation


def own_client_record_for_update(actor: Membership) -> Client:
    """The signed-in client's own record, locked; NotFound for anyone else."""
    if not policy.is_client_actor(actor):
        raise NotFound()
    client = (
        Client.objects.select_for_update()
        .filter(user_id=actor.user_id, organisation_id=actor.organisation_id)
        .first()
    )
    if client is None:
        raise NotFound()
    return client


def companion_link_on_accept(*, invitation, account) -> None:
    """Called by accounts.services.invitation_accept inside its transaction: a client's
    invitation opens their record; a companion's creates the companion row."""
    if invitation.client_id is None:
        return
    client = Client.objects.select_for_update().get(pk=invitation.client_id)
    if "client" in invitation.roles:
        if client.user_id not in (None, account.pk):
            raise DomainError("This record already has a portal account.", code="portal.exists")
        client.user = account
        client.save(update_fields=["user"])
        if not account.time_zone and client.state:
            # The client sees appointment times in their own zone (issue 6).
            from kapflow.clinical.geography import state_time_zone

            account.time_zone = state_time_zone(client.state)
            account.save(update_fields=["time_zone"])
    if "companion" in invitation.roles:
        Companion.objects.get_or_create(
            client=client, user=account,
            defaults={"organisation": client.organisation,
                      "relationship": invitation.companion_relationship,
                      "date_of_birth": invitation.companion_date_of_birth},
        )  # fmt: skip


# The companion's own checklist before an at-home session (seed 000; issue 7).
COMPANION_CHECKLIST = (
    ("present", "I will be physically present for the whole session, until the therapist ends it."),
    ("sober", "I will not drink alcohol or take anything that affects my judgement that day."),
    ("phone", "My phone is charged and I can call 911 from where the session takes place."),
    ("address", "I know the full street address to give emergency services."),
    ("no_driving", "I will make sure the client does not drive until the next day."),
    ("contacts", "I have the therapist's and the practice's phone numbers."),
)


def _companion_for(actor: Membership, companion_id: int) -> Companion:
    companion = (
        Companion.objects.select_for_update().filter(pk=companion_id, user_id=actor.user_id).first()
        if policy.is_companion_actor(actor)
        else None
    )
    if companion is None:
        raise audit_not_found(actor=actor, model=Companion, object_id=companion_id)
    return companion


@transaction.atomic
def companion_confirm(*, actor: Membership, companion_id: int, checklist: dict) -> Companion:
    """The companion ticks their checklist and confirms they will be present: the at-home
    dosing gate's `companion.unconfirmed` clears."""
    companion = _companion_for(actor, companion_id)
    known = dict(COMPANION_CHECKLIST)
    done = {code: bool(checklist.get(code)) for code in known}
    missing = [known[code] for code, ticked in done.items() if not ticked]
    if missing:
        raise ValidationError({"checklist": [f"Not ticked yet: {text}" for text in missing]})
    companion.checklist = done
    companion.confirmed_at = timezone.now()
    companion.save(update_fields=["checklist", "confirmed_at"])
    from kapflow.courses.facts import course_facts_refresh

    course_facts_refresh(client_id=companion.client_id)
    audit_record(
        actor=actor, action="companion.confirm", target=companion, client_id=companion.client_id
    )
    return companion


@transaction.atomic
def companion_checkin_record(
    *, actor: Membership, companion_id: int, state: str, bp_systolic=None, bp_diastolic=None,
    heart_rate=None, note: str = "",
) -> CompanionCheckin:  # fmt: skip
    """A check-in during an at-home session. "Not responding" also raises a help-now alert."""
    companion = _companion_for(actor, companion_id)
    from kapflow.courses.models import Course

    course = Course.objects.filter(client_id=companion.client_id, closed_at__isnull=True).first()
    checkin = CompanionCheckin(
        organisation=companion.organisation, companion=companion, client_id=companion.client_id,
        course=course, state=state, bp_systolic=bp_systolic, bp_diastolic=bp_diastolic,
        heart_rate=heart_rate, note=(note or "").strip()[:500],
    )  # fmt: skip
    checkin.full_clean()
    if (bp_systolic is None) != (bp_diastolic is None):
        raise ValidationError({"bp_diastolic": "Enter both blood pressure numbers, or neither."})
    checkin.save()
    audit_record(
        actor=actor, action="companion.checkin", target=checkin, client_id=companion.client_id
    )
    if state == "unresponsive":
        # Hard to rouse is a need-help-now moment: the therapist is alerted at once.
        from kapflow.alerts.services import alert_raise

        alert_raise(
            actor=actor, client_id=companion.client_id, kind="help_now",
            answers={}, note="Check-in: hard to rouse or not responding.",
        )  # fmt: skip
    return checkin


# ---- emergency access ("break glass", decision 0036) ---------------------------------------


def _emergency_reason(reason_code: str, explanation: str, minutes) -> tuple[str, str, int]:
    """The reason code is required; a written explanation alone never suffices."""
    from kapflow.patients.models import EMERGENCY_EXPLANATION_MAX, EMERGENCY_MAX_MINUTES

    errors = {}
    if reason_code not in EmergencyReason.values:
        errors["reason_code"] = "Choose the reason for emergency access."
    explanation = (explanation or "").strip()
    if not explanation:
        errors["explanation"] = "Say what is happening and why you need the record now."
    elif len(explanation) > EMERGENCY_EXPLANATION_MAX:
        errors["explanation"] = f"Keep it under {EMERGENCY_EXPLANATION_MAX} characters."
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        minutes = 0
    if not 1 <= minutes <= EMERGENCY_MAX_MINUTES:
        errors["minutes"] = (
            f"Emergency access lasts from 1 minute to {EMERGENCY_MAX_MINUTES // 60} hours."
        )
    if errors:
        raise ValidationError(errors)
    return reason_code, explanation, minutes


def _holds_current_licence(actor: Membership) -> bool:
    today = clock.clinical_date(actor.organisation)
    return any(
        lic.expires_on is None or lic.expires_on >= today for lic in licences_of(actor.user_id)
    )


def emergency_access_open(
    *,
    actor: Membership,
    date_of_birth,
    reason_code: str,
    explanation: str,
    last_name: str = "",
    first_name: str = "",
    client_number: int | None = None,
    minutes: int = EMERGENCY_DEFAULT_MINUTES,
) -> EmergencyAccess:
    """A practice clinician not on the client's care team opens time-limited access to one
    client of their own practice, named exactly (date of birth, and the client number or the
    full name). The practice's admins are e-mailed after commit. A lookup that matches no
    one is audited (`breakglass.no_match`, no client) and refused."""
    from kapflow.patients.selectors import emergency_client_matches

    if not policy.can_open_emergency_access(actor):
        raise NotFound()
    reason_code, explanation, minutes = _emergency_reason(reason_code, explanation, minutes)
    if not _holds_current_licence(actor):
        raise DomainError(
            "Emergency access needs a current licence on file. Ask a practice admin to add "
            "yours under Members.",
            code="emergency.no_licence",
        )
    if not date_of_birth:
        raise ValidationError({"date_of_birth": "Enter the client's date of birth."})
    if not client_number and not ((last_name or "").strip() and (first_name or "").strip()):
        raise ValidationError(
            {"last_name": "Enter the client's last and first name, or their client number."}
        )
    matches = emergency_client_matches(
        actor=actor, date_of_birth=date_of_birth, last_name=last_name or "",
        first_name=first_name or "", client_number=client_number,
    )  # fmt: skip
    if not matches:
        # Outside any transaction, so the refused attempt stays in the trail.
        audit_record(actor=actor, action="breakglass.no_match")
        raise ValidationError(
            f"No client of {actor.organisation.name} matches these details. Check the "
            "spelling and the date of birth, or use the client number."
        )
    if len(matches) > 1:
        raise ValidationError(
            {"client_number": "More than one client matches; enter the client number too."}
        )
    return _emergency_access_create(
        actor=actor, client_id=matches[0].pk, reason_code=reason_code,
        explanation=explanation, minutes=minutes,
    )  # fmt: skip


@transaction.atomic
def _emergency_access_create(
    *, actor: Membership, client_id: int, reason_code: str, explanation: str, minutes: int
) -> EmergencyAccess:
    from datetime import timedelta

    # Lock the client: a double submit waits here and then finds the first grant.
    client = (
        Client.objects.for_org(actor.organisation)
        .select_for_update()
        .select_related("organisation")
        .get(pk=client_id)
    )
    if CareTeamMember.objects.filter(
        client=client, membership=actor, ended_at__isnull=True
    ).exists():
        raise DomainError(
            "You are on this client's care team already: open their record from your client list.",
            code="emergency.on_team",
        )
    now = clock.now()
    _close_lapsed(
        EmergencyAccess.objects.filter(client=client, membership=actor, ended_at__isnull=True),
        now=now,
    )
    current = EmergencyAccess.objects.filter(
        client=client, membership=actor, ended_at__isnull=True
    ).first()
    if current is not None:
        return current
    findings = care_team_licence_findings(membership=actor, client=client)
    grant = EmergencyAccess(
        organisation=client.organisation, client=client, membership=actor,
        reason_code=reason_code, explanation=explanation,
        licence_warning=" ".join(f.message for f in findings)[:300],
        started_at=now, expires_at=now + timedelta(minutes=minutes),
    )  # fmt: skip
    grant.full_clean()
    grant.save()
    # The request's actor now holds a grant (patients.selectors.emergency_grants_for_request).
    actor.holds_emergency_grant = True
    audit_record(actor=actor, action="breakglass.opened", target=grant, client_id=client.pk)
    logger.warning("breakglass.opened", extra={"grant_id": grant.pk, "reason_code": reason_code})
    from kapflow.patients.tasks import emergency_access_notify

    grant_id = grant.pk
    transaction.on_commit(lambda: emergency_access_notify.enqueue(grant_id))
    return grant


def _close_lapsed(queryset, *, now) -> int:
    """Mark grants past their expiry as expired (inside the caller's transaction). Access
    already stopped at `expires_at` (policy reads it); this records the end and its event."""
    closed = 0
    for grant in queryset.select_for_update().filter(ended_at__isnull=True, expires_at__lte=now):
        grant.ended_at, grant.end_kind = grant.expires_at, EmergencyEnd.EXPIRED
        grant.save(update_fields=["ended_at", "end_kind"])
        audit_record(
            actor=None, action="breakglass.expired", target=grant, client_id=grant.client_id
        )
        closed += 1
    return closed


@transaction.atomic
def emergency_access_close_lapsed(*, organisation_id: int | None = None, membership=None) -> int:
    """Record the expiry of every lapsed grant (of one practice, or one clinician)."""
    qs = EmergencyAccess.objects.all()
    if organisation_id is not None:
        qs = qs.filter(organisation_id=organisation_id)
    if membership is not None:
        qs = qs.filter(membership=membership)
    return _close_lapsed(qs, now=clock.now())


def _grant_for_update(actor: Membership, grant_id: int) -> EmergencyAccess:
    grant = (
        EmergencyAccess.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(pk=grant_id)
        .first()
    )
    if grant is None or not policy.can_end_emergency_access(actor, grant):
        raise NotFound("Emergency access not found.")
    return grant


@transaction.atomic
def emergency_access_end(*, actor: Membership, grant_id: int) -> EmergencyAccess:
    """The clinician ends their own grant early. Ending one already over changes nothing."""
    grant = _grant_for_update(actor, grant_id)
    if grant.membership_id != actor.pk:
        raise NotFound("Emergency access not found.")
    now = clock.now()
    if grant.ended_at is None and grant.expires_at <= now:
        _close_lapsed(EmergencyAccess.objects.filter(pk=grant.pk), now=now)
        grant.refresh_from_db()
    if grant.ended_at is not None:
        return grant
    grant.ended_at, grant.end_kind, grant.ended_by = now, EmergencyEnd.ENDED, actor
    grant.full_clean()
    grant.save(update_fields=["ended_at", "end_kind", "ended_by"])
    audit_record(actor=actor, action="breakglass.ended", target=grant, client_id=grant.client_id)
    return grant


@transaction.atomic
def emergency_access_revoke(*, actor: Membership, grant_id: int, note: str) -> EmergencyAccess:
    """A practice admin ends a clinician's open grant, saying why."""
    if not policy.can_review_emergency_access(actor):
        raise NotFound()
    grant = _grant_for_update(actor, grant_id)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say why you are revoking this access."})
    now = clock.now()
    _close_lapsed(EmergencyAccess.objects.filter(pk=grant.pk), now=now)
    grant.refresh_from_db()
    if grant.ended_at is not None:
        raise DomainError("This emergency access has already ended.", code="emergency.ended")
    grant.ended_at, grant.end_kind, grant.ended_by = now, EmergencyEnd.REVOKED, actor
    grant.end_note = note[:500]
    grant.full_clean()
    grant.save(update_fields=["ended_at", "end_kind", "ended_by", "end_note"])
    audit_record(actor=actor, action="breakglass.revoked", target=grant, client_id=grant.client_id)
    return grant


@transaction.atomic
def emergency_access_review(*, actor: Membership, grant_id: int, note: str) -> EmergencyAccess:
    """A practice admin marks a grant reviewed, with a note, once it has ended (a review of
    an open grant would miss what is read after it)."""
    from kapflow.patients.models import EMERGENCY_EXPLANATION_MAX

    if not policy.can_review_emergency_access(actor):
        raise NotFound()
    grant = _grant_for_update(actor, grant_id)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Write what you found, e.g. appropriate, discussed."})
    if len(note) > EMERGENCY_EXPLANATION_MAX:
        raise ValidationError({"note": f"Keep it under {EMERGENCY_EXPLANATION_MAX} characters."})
    now = clock.now()
    _close_lapsed(EmergencyAccess.objects.filter(pk=grant.pk), now=now)
    grant.refresh_from_db()
    if grant.ended_at is None:
        raise DomainError(
            "This emergency access is still open. Revoke it, or review it once it has ended.",
            code="emergency.open",
        )
    if grant.reviewed_at is not None:
        raise DomainError("This emergency access was already reviewed.", code="emergency.reviewed")
    grant.reviewed_at, grant.reviewed_by, grant.review_note = now, actor, note
    grant.full_clean()
    grant.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])
    audit_record(actor=actor, action="breakglass.reviewed", target=grant, client_id=grant.client_id)
    return grant


def emergency_access_record_use(*, actor: Membership, grants, since, request_id: str) -> int:
    """After a request of a clinician holding grants: one `breakglass.use` row, whose target
    is the grant, for each granted client the request read or wrote (the request's own audit
    rows say which), and the expiry of grants that have lapsed. Returns the rows written."""
    from kapflow.audit.selectors import clients_touched_in_request
    from kapflow.audit.services import audit_record_many

    now = clock.now()
    if any(g.expires_at <= now for g in grants):
        emergency_access_close_lapsed(organisation_id=actor.organisation_id, membership=actor)
    # A grant open when the request began covers what the request read.
    covering = {g.client_id: g for g in grants if g.expires_at > since}
    touched = clients_touched_in_request(
        actor=actor, request_id=request_id, since=since, client_ids=covering
    )
    used = [covering[client_id] for client_id in sorted(touched)]
    if used:
        audit_record_many(
            actor=actor, action="breakglass.use", targets=used, client_attr="client_id"
        )
    return len(used)
