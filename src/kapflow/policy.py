"""Who may do what: every permission question in kapflow, answered in one place.

Each function takes the acting Membership (`actor`: a user acting for one organisation, with
roles prefetched) and answers one named question. Services ask before they write, selectors
build their querysets from the `*_queryset` forms, and views re-ask only to hide buttons.

The rules, in short:
- practice admins see and manage every client of their own practice;
- billers see their practice's client demographics, nothing clinical, and change nothing;
- therapists and prescribers see the clients whose care team they are on, in any organisation
  (for a partner prescriber that care-team row is the referral grant);
- clients see only their own record, companions see nothing clinical;
- nobody sees another organisation's data: such rows are simply "not found".
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from kapflow.accounts.models import CLINICIAN_ROLES, OrganisationKind, Role


def _is_practice(actor) -> bool:
    return actor.organisation.kind == OrganisationKind.PRACTICE


# ---- clients -------------------------------------------------------------------------------


def clients_queryset(actor) -> QuerySet:
    """Every client the actor may see on staff pages and staff endpoints."""
    from kapflow.patients.models import CareTeamMember, Client

    if actor is None:
        return Client.objects.none()
    if actor.has_role(Role.PRACTICE_ADMIN, Role.BILLER) and _is_practice(actor):
        return Client.objects.for_org(actor.organisation)
    if actor.has_role(*CLINICIAN_ROLES):
        on_team = CareTeamMember.objects.filter(
            client=OuterRef("pk"), membership=actor, ended_at__isnull=True
        )
        # Scope by organisation first (tenancy), then by the care-team grant: a practice's
        # clinicians only treat its own clients; a partner's only those of practices it
        # partners with. This also lets PostgreSQL walk the (organisation, name) index.
        if _is_practice(actor):
            scoped = Client.objects.for_org(actor.organisation)
        else:
            from kapflow.accounts.models import Partnership

            practices = Partnership.objects.filter(partner_id=actor.organisation_id).values(
                "practice_id"
            )
            scoped = Client.objects.filter(organisation_id__in=practices)
        return scoped.filter(Exists(on_team))
    return Client.objects.none()


def can_list_clients(actor) -> bool:
    return actor is not None and actor.has_role(
        Role.PRACTICE_ADMIN, Role.BILLER, Role.THERAPIST, Role.PRESCRIBER
    )


def can_create_client(actor) -> bool:
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(Role.PRACTICE_ADMIN, Role.THERAPIST)
    )


def can_edit_client(actor, client) -> bool:
    """Demographics belong to the owning practice: its admins and its therapists on the team."""
    if actor is None or client.organisation_id != actor.organisation_id:
        return False
    if actor.has_role(Role.PRACTICE_ADMIN):
        return True
    return actor.has_role(Role.THERAPIST) and is_on_care_team(actor, client)


def can_manage_care_team(actor, client) -> bool:
    return can_edit_client(actor, client)


def is_on_care_team(actor, client) -> bool:
    # Uses the prefetched care team when the selector loaded it.
    return any(m.membership_id == actor.pk and m.ended_at is None for m in client.care_team.all())


# ---- organisation administration ----------------------------------------------------------


def can_manage_members(actor) -> bool:
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN)


def can_view_audit(actor) -> bool:
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN)


def can_edit_credentials(actor, membership) -> bool:
    """Clinicians keep their own credentials; an admin keeps those of their members."""
    if actor is None:
        return False
    if membership.user_id == actor.user_id:
        return True
    return actor.has_role(Role.PRACTICE_ADMIN) and membership.organisation_id == (
        actor.organisation_id
    )


def assignable_clinicians_queryset(actor, client) -> QuerySet:
    """Memberships that may join this client's care team: therapists and prescribers of the
    client's practice, and prescribers of its partner organisations."""
    from kapflow.accounts.models import Membership, Partnership

    partners = Partnership.objects.filter(practice_id=client.organisation_id).values("partner_id")
    return (
        Membership.objects.filter(is_active=True)
        .filter(
            Q(
                organisation_id=client.organisation_id,
                roles__role__in=[Role.THERAPIST, Role.PRESCRIBER],
            )
            | Q(organisation_id__in=partners, roles__role=Role.PRESCRIBER)
        )
        .distinct()
    )


# ---- portal -------------------------------------------------------------------------------


def is_staff_actor(actor) -> bool:
    return actor is not None and actor.is_staff_member


def is_client_actor(actor) -> bool:
    return actor is not None and actor.has_role(Role.CLIENT)


def is_companion_actor(actor) -> bool:
    return actor is not None and actor.has_role(Role.COMPANION)


# ---- courses ------------------------------------------------------------------------------


def courses_queryset(actor) -> QuerySet:
    """Courses of the clients the actor may see; billers see none (no clinical data)."""
    from kapflow.courses.models import Course

    if actor is None or not actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES):
        return Course.objects.none()
    if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor):
        return Course.objects.for_org(actor.organisation)
    visible = clients_queryset(actor).values("pk")
    if _is_practice(actor):
        # Same rows (a practice's clinicians see only its own clients), but scoped by the
        # course's organisation first so the caseload can walk its ordered index.
        return Course.objects.for_org(actor.organisation).filter(client_id__in=visible)
    return Course.objects.filter(client_id__in=visible)


def can_list_courses(actor) -> bool:
    """The caseload is clinical: practice admins and clinicians, not billers."""
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES)


def can_open_course(actor, client) -> bool:
    """Opening a course is a practice step: its admins, or a therapist on the client's team."""
    if actor is None or client.organisation_id != actor.organisation_id:
        return False
    if actor.has_role(Role.PRACTICE_ADMIN):
        return True
    return actor.has_role(Role.THERAPIST) and is_on_care_team(actor, client)


def can_act_on_course(actor, course, side: str) -> bool:
    """Clinical decisions belong to licensed clinicians: the course's therapist side (its
    therapist, or another therapist on the client's team) or its prescriber."""
    if actor is None:
        return False
    if side == "prescriber":
        return actor.has_role(Role.PRESCRIBER) and course.prescriber_id == actor.pk
    if not actor.has_role(Role.THERAPIST):
        return False
    return course.therapist_id == actor.pk or is_on_care_team(actor, course.client)


def can_override_gate(actor, course) -> bool:
    """Overriding a soft gate is for the course's clinicians only, with a written reason."""
    return can_act_on_course(actor, course, "therapist") or can_act_on_course(
        actor, course, "prescriber"
    )


# ---- assessments --------------------------------------------------------------------------


def can_assess(actor, client) -> bool:
    """Assigning, entering, correcting questionnaires and recording risk assessments: the
    clinicians on the client's care team (client.care_team prefetched)."""
    return actor is not None and actor.has_role(*CLINICIAN_ROLES) and is_on_care_team(actor, client)


def is_own_client_record(actor, client_id: int) -> bool:
    """The signed-in client acting on their own record (portal)."""
    from kapflow.patients.models import Client

    return (
        actor is not None
        and actor.has_role(Role.CLIENT)
        and Client.objects.filter(pk=client_id, user_id=actor.user_id).exists()
    )


def can_see_clinical(actor) -> bool:
    """Scores, screens and notes: clinicians and practice admins, never billers, clients
    (except their own, through the portal) or companions."""
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES)


def can_view_practice_outcomes(actor) -> bool:
    """The practice outcomes report (de-identified aggregates): the practice's admins and
    its therapists. Partner prescribers, billers, clients and companions: no."""
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(Role.PRACTICE_ADMIN, Role.THERAPIST)
    )


def can_see_scores(actor, client) -> bool:
    """Questionnaire answers, scores and charts. The practice's clinicians and admins; a
    partner prescriber only when the referral shared recent scores (decision 0018)."""
    if not can_see_clinical(actor):
        return False
    if _is_practice(actor):
        return client.organisation_id == actor.organisation_id
    from kapflow.prescriptions.models import Referral

    return (
        Referral.objects.filter(
            client_id=client.pk, partner_id=actor.organisation_id, prescriber=actor,
            share_scores=True,
        )
        .exclude(status="withdrawn")
        .exists()
    )  # fmt: skip


# ---- referral, evaluation, prescriptions --------------------------------------------------


def referrals_queryset(actor) -> QuerySet:
    """Referrals the actor may see: on the practice side, those of the clients it sees; on
    the partner side, those addressed to the actor as prescriber."""
    from kapflow.prescriptions.models import Referral

    if actor is None or not actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES):
        return Referral.objects.none()
    if _is_practice(actor):
        return Referral.objects.for_org(actor.organisation).filter(
            client_id__in=clients_queryset(actor).values("pk")
        )
    if not actor.has_role(Role.PRESCRIBER):
        return Referral.objects.none()
    return Referral.objects.filter(partner_id=actor.organisation_id, prescriber=actor)


def can_refer(actor, course) -> bool:
    """Referring is the therapist side's step (course.client.care_team prefetched)."""
    return _is_practice(actor) and can_act_on_course(actor, course, "therapist")


def is_referral_prescriber(actor, referral) -> bool:
    return (
        actor is not None
        and actor.has_role(Role.PRESCRIBER)
        and referral.prescriber_id == actor.pk
        and referral.partner_id == actor.organisation_id
    )


def can_prescribe(actor, course) -> bool:
    """Prescriptions, fills, refills and follow-ups: the course's prescriber only."""
    return can_act_on_course(actor, course, "prescriber")
