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
- nobody sees another organisation's data: such rows are simply "not found";
- in an emergency a practice's own clinician not on the team may open time-limited access to
  one of its clients (decision 0036): they read what the care team reads and write notes.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from kapflow.accounts.models import CLINICIAN_ROLES, OrganisationKind, Role


def _is_practice(actor) -> bool:
    return actor.organisation.kind == OrganisationKind.PRACTICE


# ---- clients -------------------------------------------------------------------------------


def _partnered_practices(partner_id) -> QuerySet:
    """The practices an organisation is a partner of (ids, as a subquery): the tenancy a
    partner's clinician works in, beside the care-team grant that names the client."""
    from kapflow.accounts.models import Partnership

    return Partnership.objects.filter(partner_id=partner_id).values("practice_id")


def clients_queryset(actor) -> QuerySet:
    """Every client the actor may see on staff pages and staff endpoints."""
    from kapflow.core import clock
    from kapflow.patients.models import Client

    if actor is None:
        return Client.objects.none()
    return clients_scope(
        **client_scope_shape(actor),
        organisation_id=actor.organisation_id,
        membership_id=actor.pk,
        now=clock.now(),
    )


def client_scope_shape(actor) -> dict:
    """What chooses the shape of the actor's client scope: the organisation's kind and the
    roles that matter to it (QueryTemplate's shape arguments, kapflow.core.querytemplate)."""
    return {
        "practice": _is_practice(actor),
        "admin": actor.has_role(Role.PRACTICE_ADMIN, Role.BILLER),
        "clinician": actor.has_role(*CLINICIAN_ROLES),
    }


def clients_scope(
    *, practice: bool, admin: bool, clinician: bool, organisation_id: int, membership_id: int, now
) -> QuerySet:
    """clients_queryset from plain values: a function of its arguments only, so that a
    compiled copy of it can be bound with another actor's values (QueryTemplate)."""
    from kapflow.patients import grants
    from kapflow.patients.models import Client

    if admin and practice:
        return Client.objects.for_org(organisation_id)
    if clinician:
        on_team = grants.holds_grant(membership_id, client="pk")
        # Scope by organisation first (tenancy), then by the care-team grant: a practice's
        # clinicians only treat its own clients; a partner's only those of practices it
        # partners with. This also lets PostgreSQL walk the (organisation, name) index.
        if practice:
            scoped = Client.objects.for_org(organisation_id)
            # Or an open emergency grant of the same practice (decision 0036).
            grant = _emergency_grant_of(membership_id, organisation_id, now, "pk")
            return scoped.filter(Q(on_team) | Q(Exists(grant)))

        practices = _partnered_practices(organisation_id)
        scoped = Client.objects.filter(organisation_id__in=practices)
        return scoped.filter(on_team)
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


# ---- emergency access ("break glass", decision 0036) --------------------------------------
# A therapist or prescriber of the practice that holds the record, who is not on the client's
# care team, may open time-limited access in an emergency with a reason code and a written
# explanation (the service also asks for a current licence on file). While the grant is open
# they read what the care team reads and write clinical notes and addenda; every other write
# still needs the care team. Never a partner organisation, an admin (who sees every client
# already), a biller, a client or a companion; never another organisation's client.


def _emergency_grant(actor, client_ref: str) -> QuerySet:
    """The actor's open, unexpired grants for the client at OuterRef(client_ref)."""
    from kapflow.core import clock

    return _emergency_grant_of(actor.pk, actor.organisation_id, clock.now(), client_ref)


def _emergency_grant_of(membership_id: int, organisation_id: int, now, client_ref: str):
    from kapflow.patients.models import EmergencyAccess

    return EmergencyAccess.objects.filter(
        client_id=OuterRef(client_ref),
        membership_id=membership_id,
        organisation_id=organisation_id,
        ended_at__isnull=True,
        expires_at__gt=now,
    )


def can_open_emergency_access(actor) -> bool:
    """The emergency access page: a practice's own therapists and prescribers (not its
    admins, who see every client of the practice already)."""
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(*CLINICIAN_ROLES)
        and not actor.has_role(Role.PRACTICE_ADMIN)
    )


def has_emergency_access(actor, client) -> bool:
    """An open, unexpired grant of the actor's own practice for this client (one query)."""
    return _has_emergency_grant(actor, client.organisation_id, client.pk)


def _has_emergency_grant(actor, organisation_id: int, client_id: int) -> bool:
    from kapflow.core import clock
    from kapflow.patients.models import EmergencyAccess

    if not can_open_emergency_access(actor) or organisation_id != actor.organisation_id:
        return False
    return EmergencyAccess.objects.filter(
        client_id=client_id,
        membership=actor,
        organisation_id=actor.organisation_id,
        ended_at__isnull=True,
        expires_at__gt=clock.now(),
    ).exists()


def can_review_emergency_access(actor) -> bool:
    """The report of emergency access, its review and revocation: the practice's admins."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.PRACTICE_ADMIN)


def can_end_emergency_access(actor, grant) -> bool:
    """Ending a grant early: the clinician who holds it, or an admin of its practice."""
    if actor is None or grant.organisation_id != actor.organisation_id:
        return False
    return grant.membership_id == actor.pk or can_review_emergency_access(actor)


# ---- organisation administration ----------------------------------------------------------


def can_manage_members(actor) -> bool:
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN)


def can_manage_practice_settings(actor) -> bool:
    """A practice's own settings (dosing-gate and in-session thresholds): its
    admins. A partner organisation has none of these settings."""
    return can_manage_members(actor) and actor.organisation.kind == "practice"


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
    from kapflow.core import clock
    from kapflow.courses.models import Course

    if actor is None:
        return Course.objects.none()
    return courses_scope(
        **course_scope_shape(actor),
        organisation_id=actor.organisation_id,
        membership_id=actor.pk,
        now=clock.now(),
    )


def course_scope_shape(actor) -> dict:
    """What chooses the shape of the actor's course scope (QueryTemplate's shape arguments):
    the client scope's, plus whether the actor may list courses and is the practice's admin."""
    return {
        **client_scope_shape(actor),
        "may_list": can_list_courses(actor),
        "practice_admin": actor.has_role(Role.PRACTICE_ADMIN),
    }


def courses_scope(
    *,
    practice: bool,
    admin: bool,
    clinician: bool,
    may_list: bool,
    practice_admin: bool,
    organisation_id: int,
    membership_id: int,
    now,
) -> QuerySet:
    """courses_queryset from plain values, as clients_scope is clients_queryset's."""
    from kapflow.courses.models import Course

    if not may_list:
        return Course.objects.none()
    if practice_admin and practice:
        return Course.objects.for_org(organisation_id)
    visible = clients_scope(
        practice=practice,
        admin=admin,
        clinician=clinician,
        organisation_id=organisation_id,
        membership_id=membership_id,
        now=now,
    ).values("pk")
    if practice:
        # Same rows (a practice's clinicians see only its own clients), but scoped by the
        # course's organisation first so the caseload can walk its ordered index.
        return Course.objects.for_org(organisation_id).filter(client_id__in=visible)
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


def is_treating_clinician(actor, course) -> bool:
    """The treating clinician of the override table (decision 0029): a therapist on the
    course's therapist side in the course's own practice (course.client.care_team
    prefetched). Whether they may override a given reason is kapflow.clinical.overrides'
    answer, with their licence."""
    return (
        actor is not None
        and course.organisation_id == actor.organisation_id
        and can_act_on_course(actor, course, "therapist")
    )


def can_view_override_report(actor) -> bool:
    """The practice's report of gate overrides: its admins."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.PRACTICE_ADMIN)


def can_override_gate(actor, course) -> bool:
    """The course's clinicians: the treating clinicians and the prescriber. Which reasons each
    may override, and how, is kapflow.clinical.overrides' table (decision 0029)."""
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
    from kapflow.patients import grants

    # Addressed to the actor, while the care-team grant lasts (decision 0005): a practice
    # that removes the prescriber from the team ends their access to an open referral. A
    # declined or withdrawn one stays listed so both sides see its status (its content is
    # hidden from the partner once withdrawn).
    grant = grants.holds_grant(actor.pk, client="client")
    return Referral.objects.filter(partner_id=actor.organisation_id, prescriber=actor).filter(
        Q(grant) | Q(status__in=["declined", "withdrawn"])
    )


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


# ---- journal and alerts (issue 7) ----------------------------------------------------------


def _on_team_now(actor, client_id: int) -> bool:
    # A query rather than the prefetched team: callers hold a course or an alert, not a client.
    from kapflow.patients import grants

    return grants.on_care_team(actor.pk, client_id)


def can_read_shared_journal(actor, course) -> bool:
    """Journal entries a client shared are therapy content: the client's practice's admins
    and that practice's clinicians on the client's care team (or holding an open emergency
    grant, decision 0036). Never a partner organisation's
    prescriber (even on the team), billers, companions or other organisations."""
    if actor is None or not _is_practice(actor):
        return False
    if course.organisation_id != actor.organisation_id:
        return False
    if actor.has_role(Role.PRACTICE_ADMIN):
        return True
    if not actor.has_role(*CLINICIAN_ROLES):
        return False
    return _on_team_now(actor, course.client_id) or _has_emergency_grant(
        actor, course.organisation_id, course.client_id
    )


def alerts_queryset(actor) -> QuerySet:
    """Reaction reports and "need help now" alerts the actor may see: a practice's admins see
    their practice's; clinicians those of the clients whose care team they are on, a partner
    prescriber included (safety comes first). Billers, clients and companions see none."""
    from kapflow.alerts.models import Alert

    if actor is None:
        return Alert.objects.none()
    if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor):
        return Alert.objects.for_org(actor.organisation)
    if not actor.has_role(*CLINICIAN_ROLES):
        return Alert.objects.none()
    visible = clients_queryset(actor).values("pk")
    if _is_practice(actor):
        return Alert.objects.for_org(actor.organisation).filter(client_id__in=visible)
    return Alert.objects.filter(client_id__in=visible)


def can_acknowledge_alert(actor, alert) -> bool:
    """Acknowledging says a clinician has picked the alert up: the clinicians on the client's
    care team (a partner prescriber too). Practice admins see alerts but do not acknowledge.
    Uses `actor_on_team` when the selector annotated it (alerts.selectors), else a query."""
    if actor is None or not actor.has_role(*CLINICIAN_ROLES):
        return False
    on_team = getattr(alert, "actor_on_team", None)
    return on_team if on_team is not None else _on_team_now(actor, alert.client_id)


def alert_raiser_role(actor, client) -> str:
    """Who may report a reaction or press "need help now" for this client: "client" for the
    client themself, "companion" for a companion the client named; "" for anyone else."""
    from kapflow.patients.models import Companion

    if actor is None or client.organisation_id != actor.organisation_id:
        return ""
    if actor.has_role(Role.CLIENT) and client.user_id == actor.user_id:
        return "client"
    if (
        actor.has_role(Role.COMPANION)
        and Companion.objects.filter(client_id=client.pk, user_id=actor.user_id).exists()
    ):
        return "companion"
    return ""


# ---- messaging ----------------------------------------------------------------------------
# A thread is about one client and belongs to the client's practice. `care` threads: the
# client, the clinicians on the client's care team and the practice admins who were added;
# `partner` threads: the practice's clinicians and the partner prescriber on the team, never
# the client. Billers and companions never see messages. Reading a thread needs a participant
# row for the acting membership AND the right to take part today: a clinician whose care-team
# row ended loses access at the next request, like everywhere else.


def can_use_messaging(actor) -> bool:
    """Clients, clinicians and practice admins; everyone else gets "not found"."""
    if actor is None:
        return False
    if actor.has_role(Role.CLIENT, *CLINICIAN_ROLES):
        return True
    return actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor)


def message_threads_queryset(actor) -> QuerySet:
    """Threads the actor takes part in and may still read."""
    from kapflow.messaging.models import Thread, ThreadKind, ThreadParticipant
    from kapflow.patients import grants

    if not can_use_messaging(actor):
        return Thread.objects.none()
    allowed = []
    if actor.has_role(Role.CLIENT):
        allowed.append(Q(kind=ThreadKind.CARE, client__user_id=actor.user_id))
    if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor):
        allowed.append(Q(kind=ThreadKind.CARE))
    if actor.has_role(*CLINICIAN_ROLES):
        on_team = grants.holds_grant(actor.pk, client="client_id")
        allowed.append(Q(on_team))
    condition = allowed[0]
    for other in allowed[1:]:
        condition |= other
    if _is_practice(actor):
        scoped = Thread.objects.for_org(actor.organisation)
    else:
        practices = _partnered_practices(actor.organisation_id)
        scoped = Thread.objects.filter(organisation_id__in=practices)
    taking_part = ThreadParticipant.objects.filter(thread_id=OuterRef("pk"), membership=actor)
    return scoped.filter(Exists(taking_part)).filter(condition)


def messageable_clients_queryset(actor) -> QuerySet:
    """Clients a staff member may start a thread about: a practice admin, every client of
    the practice; a clinician, the clients whose care team they are on. Billers: none."""
    from kapflow.patients import grants
    from kapflow.patients.models import Client

    if actor is None:
        return Client.objects.none()
    if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor):
        return Client.objects.for_org(actor.organisation)
    if actor.has_role(*CLINICIAN_ROLES):
        # clients_queryset answers for a biller who is also a clinician with every client of
        # the practice; messaging needs the care-team grant whatever the other roles.
        on_team = grants.holds_grant(actor.pk, client="pk")
        return clients_queryset(actor).filter(on_team)
    return Client.objects.none()


def can_start_thread(actor, client, kind: str) -> bool:
    """`care`: the client themself, an admin of the client's practice, or a clinician on the
    team; `partner`: a clinician on the team (client.care_team prefetched)."""
    from kapflow.messaging.models import ThreadKind

    if actor is None or kind not in ThreadKind.values:
        return False
    if kind == ThreadKind.CARE:
        same_practice = client.organisation_id == actor.organisation_id
        if actor.has_role(Role.CLIENT) and same_practice and client.user_id == actor.user_id:
            return True
        if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor) and same_practice:
            return True
    return actor.has_role(*CLINICIAN_ROLES) and is_on_care_team(actor, client)


def thread_candidates_queryset(thread, *, include_admins: bool = True) -> QuerySet:
    """Active memberships that may take part in the thread: the clinicians on the client's
    team; for a `care` thread also the client and (include_admins) the practice's admins."""
    from kapflow.accounts.models import Membership
    from kapflow.messaging.models import ThreadKind
    from kapflow.patients import grants

    team = grants.team_member_ids(thread.client_id)
    allowed = Q(pk__in=team, roles__role__in=sorted(CLINICIAN_ROLES))
    if thread.kind == ThreadKind.CARE:
        allowed |= Q(
            organisation_id=thread.organisation_id,
            roles__role=Role.CLIENT,
            user__client_record=thread.client_id,
        )
        if include_admins:
            allowed |= Q(organisation_id=thread.organisation_id, roles__role=Role.PRACTICE_ADMIN)
    active = Membership.objects.filter(is_active=True, user__is_active=True)
    return active.filter(allowed).distinct()


def can_manage_thread_participants(actor, thread) -> bool:
    """Adding people to a thread is the practice's step, by the care-team rule: its admins or
    its therapists on the team (thread.client.care_team prefetched)."""
    return can_manage_care_team(actor, thread.client)


# ---- informed consent ---------------------------------------------------------------------


def can_publish_consent(actor) -> bool:
    """Publishing a new version of a consent document: the practice's admins."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.PRACTICE_ADMIN)


def can_read_consent_documents(actor) -> bool:
    """The practice's consent documents (their text, not who signed): its staff."""
    return is_staff_actor(actor) and _is_practice(actor)


def consent_signatures_queryset(actor) -> QuerySet:
    """Signatures staff may read: those of the clients they see, for the roles that see
    clinical records (admins and clinicians on the care team). Billers and companions none."""
    from kapflow.consents.models import ConsentSignature

    if not can_see_clinical(actor):
        return ConsentSignature.objects.none()
    return ConsentSignature.objects.filter(client_id__in=clients_queryset(actor).values("pk"))


def can_withdraw_consent_for(actor, client) -> bool:
    """Withdrawing consent on the client's behalf (they said so in a session or by phone): a
    clinician on the client's care team (client.care_team prefetched), with a written reason."""
    return actor is not None and actor.has_role(*CLINICIAN_ROLES) and is_on_care_team(actor, client)


# ---- scheduling (issue 6) -----------------------------------------------------------------
# Appointments belong to the client's practice. Practice admins see and book every
# appointment of their practice; clinicians (a partner prescriber too) those they take part
# in and those of clients on their care team; billers, none (an appointment's kind is
# clinical). Clients see their own appointments in the portal, companions only the date and
# time of their client's at-home dosing sessions. A partner's prescribers see the practice's
# therapy appointments of their clients but change only their own medical ones (decision
# 0031): the therapy schedule is the practice's.

# The prescriber's appointments: the medical evaluation and the medical follow-up.
PRESCRIBER_KINDS = frozenset({"medical_evaluation", "followup"})


def can_schedule(actor) -> bool:
    """Booking, rescheduling and cancelling: practice admins and clinicians."""
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES)


def can_book_kind(actor, kind: str) -> bool:
    """May the actor book an appointment of `kind` at all? The practice's admins and
    clinicians book every kind; a partner organisation's prescribers only the prescriber's
    medical appointments (PRESCRIBER_KINDS). Used to hide kinds and buttons; the booking
    itself asks can_book_appointment."""
    if not can_schedule(actor):
        return False
    return _is_practice(actor) or kind in PRESCRIBER_KINDS


def bookable_kinds(actor) -> frozenset:
    """The appointment kinds the actor may book (can_book_kind), to show only those."""
    from kapflow.scheduling.models import AppointmentKind

    return frozenset(k for k in AppointmentKind.values if can_book_kind(actor, k))


def can_book_appointment(actor, kind: str, clinician_ids) -> bool:
    """Booking an appointment of `kind` with these staff participants (membership ids): a
    partner's prescriber books only their own medical appointments, so they must take part."""
    if not can_book_kind(actor, kind):
        return False
    return _is_practice(actor) or actor.pk in set(clinician_ids)


def can_change_appointment(actor, appointment) -> bool:
    """Moving, cancelling or marking an appointment the actor can see
    (appointments_queryset): the practice's admins and clinicians, any; a partner's
    prescriber, only a medical appointment (PRESCRIBER_KINDS) they take part in. Reads the
    prefetched participants when loaded."""
    if not can_schedule(actor):
        return False
    if _is_practice(actor):
        return True
    return appointment.kind in PRESCRIBER_KINDS and any(
        p.membership_id == actor.pk for p in appointment.participants.all()
    )


def appointments_queryset(actor) -> QuerySet:
    """Appointments a staff actor may see and change."""
    from kapflow.scheduling.models import Appointment, AppointmentParticipant

    if not can_schedule(actor):
        return Appointment.objects.none()
    if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor):
        return Appointment.objects.for_org(actor.organisation)
    taking_part = AppointmentParticipant.objects.filter(
        appointment_id=OuterRef("pk"), membership=actor
    )
    their_client = AppointmentParticipant.objects.filter(
        appointment_id=OuterRef("pk"), client_id__in=clients_queryset(actor).values("pk")
    )
    if _is_practice(actor):
        scoped = Appointment.objects.for_org(actor.organisation)
    else:
        practices = _partnered_practices(actor.organisation_id)
        scoped = Appointment.objects.filter(organisation_id__in=practices)
    return scoped.filter(Q(Exists(taking_part)) | Q(Exists(their_client)))


def can_see_schedule_of(actor, membership) -> bool:
    """A clinician's week: their own, or any member's for an admin of the same practice."""
    if actor is None or membership is None:
        return False
    if membership.pk == actor.pk:
        return can_schedule(actor)
    return (
        actor.has_role(Role.PRACTICE_ADMIN)
        and _is_practice(actor)
        and membership.organisation_id == actor.organisation_id
    )


def can_manage_availability(actor, membership) -> bool:
    """Weekly hours and time off: the clinician themself, or an admin of their practice."""
    if actor is None or membership is None:
        return False
    if membership.pk == actor.pk:
        return actor.has_role(*CLINICIAN_ROLES)
    return (
        actor.has_role(Role.PRACTICE_ADMIN)
        and _is_practice(actor)
        and membership.organisation_id == actor.organisation_id
    )


def can_manage_rooms(actor) -> bool:
    """Rooms and the practice's scheduling settings: its admins."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.PRACTICE_ADMIN)


def can_use_calendar_feed(actor) -> bool:
    """A personal iCalendar feed: staff who take part in appointments, and clients."""
    return actor is not None and actor.has_role(Role.PRACTICE_ADMIN, Role.CLIENT, *CLINICIAN_ROLES)


# ---- encounters: dosing and group sessions (issue 6) --------------------------------------
# The session screen is clinical: the practice's admins read it, the clinicians on the
# client's care team read it (a partner prescriber included: vitals and adverse events are
# medical safety data). Only the course's therapist side runs a session (open, start with its
# overrides, discharge, abandon); the practice's own prescribers on the care team may also
# record doses, vitals and events. Partner prescribers read only. Billers, clients and
# companions see no session screen ("not found"); a client answers their own checklist, a
# companion the checklist and the vitals read-out of their client's at-home session.


def dosing_sessions_queryset(actor) -> QuerySet:
    """Dosing sessions whose course the actor may see (billers: none)."""
    from kapflow.encounters.models import DosingSession

    if actor is None or not can_list_courses(actor):
        return DosingSession.objects.none()
    return DosingSession.objects.filter(course_id__in=courses_queryset(actor).values("pk"))


def can_run_session(actor, course) -> bool:
    """Open, start (and override soft reasons), discharge or abandon a session: the course's
    therapist side in the course's own practice (course.client.care_team prefetched)."""
    return (
        actor is not None
        and course.organisation_id == actor.organisation_id
        and can_act_on_course(actor, course, "therapist")
    )


def can_record_in_session(actor, course) -> bool:
    """Record doses, vitals, observations and events: who runs the session, and the
    practice's own prescribers on the client's care team. Partner prescribers read only."""
    if can_run_session(actor, course):
        return True
    return (
        actor is not None
        and _is_practice(actor)
        and course.organisation_id == actor.organisation_id
        and actor.has_role(Role.PRESCRIBER)
        and is_on_care_team(actor, course.client)
    )


def is_session_client(actor, session) -> bool:
    """The signed-in client whose session it is."""
    return (
        actor is not None
        and actor.has_role(Role.CLIENT)
        and actor.organisation_id == session.organisation_id
        and session.client.user_id == actor.user_id
    )


def is_session_companion(actor, session) -> bool:
    """A companion named by the session's client, for an at-home session only."""
    from kapflow.patients.models import Companion

    return (
        actor is not None
        and actor.has_role(Role.COMPANION)
        and actor.organisation_id == session.organisation_id
        and session.delivery == "at_home"
        and Companion.objects.filter(client_id=session.client_id, user_id=actor.user_id).exists()
    )


def can_lead_group(actor) -> bool:
    """Create a group session: a practice's therapists (each client is added through their
    own course, with can_run_session)."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.THERAPIST)


def group_sessions_queryset(actor) -> QuerySet:
    """Group sessions of the actor's practice: its admins see all, its clinicians those they
    lead or in which they may see at least one client's session."""
    from kapflow.encounters.models import GroupSession

    if actor is None or not _is_practice(actor) or not can_list_courses(actor):
        return GroupSession.objects.none()
    groups = GroupSession.objects.for_org(actor.organisation)
    if actor.has_role(Role.PRACTICE_ADMIN):
        return groups
    from kapflow.encounters.models import GroupAttendee

    visible = dosing_sessions_queryset(actor).filter(group_id=OuterRef("pk"))
    attending = GroupAttendee.objects.filter(
        group_id=OuterRef("pk"), course_id__in=courses_queryset(actor).values("pk")
    )
    return groups.filter(Q(clinicians=actor) | Q(Exists(visible)) | Q(Exists(attending))).distinct()


# ---- notes (issue 6) ----------------------------------------------------------------------
# Progress notes are part of the client's record: the practice's clinicians on the care team
# read the signed ones, and the practice's admins read them for records requests. A partner
# prescriber on the team reads signed notes of medical sessions (dosing, medical follow-up)
# only, never therapy content. Drafts are the author's (and their supervisor's) until signed.
# Psychotherapy notes (HIPAA 164.501) are read by their author and the author's active
# supervisor only, never by admins, the rest of the team or a records request. Billers,
# clients, companions and other organisations see no notes at all ("not found").


def _active_supervisees(actor):
    from kapflow.notes.models import Supervision

    return Supervision.objects.filter(supervisor=actor, ended_at__isnull=True).values(
        "supervisee_id"
    )


def notes_queryset(actor) -> QuerySet:
    """Every note the actor may read (drafts and psychotherapy notes included, by the rules
    above). Other organisations' notes are never in it."""
    from kapflow.clinical.notes import MEDICAL_SESSION_TYPES
    from kapflow.notes.models import Note, NoteKind, NoteStatus
    from kapflow.patients import grants

    if actor is None or not actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES):
        return Note.objects.none()
    # The author and, for supervised clinicians, the supervisor: every kind and status.
    allowed = Q(author=actor)
    if actor.has_role(*CLINICIAN_ROLES):
        allowed |= Q(author_id__in=_active_supervisees(actor))
    signed_progress = Q(status=NoteStatus.SIGNED, kind=NoteKind.PROGRESS)
    if actor.has_role(*CLINICIAN_ROLES):
        on_team = grants.holds_grant(actor.pk, client="client_id")
        if _is_practice(actor):
            grant = _emergency_grant(actor, "client_id")
            allowed |= signed_progress & (Q(on_team) | Q(Exists(grant)))
        elif actor.has_role(Role.PRESCRIBER):
            allowed |= (
                signed_progress & Q(session_type__in=sorted(MEDICAL_SESSION_TYPES)) & Q(on_team)
            )
    if actor.has_role(Role.PRACTICE_ADMIN) and _is_practice(actor):
        allowed |= signed_progress
    if _is_practice(actor):
        scoped = Note.objects.for_org(actor.organisation)
    else:
        practices = _partnered_practices(actor.organisation_id)
        scoped = Note.objects.filter(organisation_id__in=practices)
    return scoped.filter(allowed)


def can_list_notes(actor, client) -> bool:
    """The notes page of a client: its practice's admins, and clinicians on the client's care
    team (client.care_team prefetched) or holding an open emergency grant. Billers never."""
    if actor is None:
        return False
    if actor.has_role(Role.PRACTICE_ADMIN) and client.organisation_id == actor.organisation_id:
        return True
    if not actor.has_role(*CLINICIAN_ROLES):
        return False
    return is_on_care_team(actor, client) or has_emergency_access(actor, client)


def can_write_note(actor, client, session_type: str, kind: str) -> bool:
    """Writing a note: a clinician on the client's care team (client.care_team prefetched),
    or a practice clinician holding an open emergency grant (decision 0036). A partner
    prescriber writes progress notes of medical sessions only; psychotherapy notes
    are written by therapists only."""
    from kapflow.clinical.notes import MEDICAL_SESSION_TYPES

    if actor is None or not actor.has_role(*CLINICIAN_ROLES):
        return False
    if not (is_on_care_team(actor, client) or has_emergency_access(actor, client)):
        return False
    if kind == "psychotherapy" and not actor.has_role(Role.THERAPIST):
        return False
    if not _is_practice(actor):
        return (
            actor.has_role(Role.PRESCRIBER)
            and kind == "progress"
            and session_type in MEDICAL_SESSION_TYPES
        )
    return True


def can_edit_note(actor, note) -> bool:
    """Autosaving, signing and deleting a draft: its author only."""
    return actor is not None and note.author_id == actor.pk and note.status == "draft"


def can_add_addendum(actor, note) -> bool:
    """An addendum to a signed note: its author, or (progress notes) another clinician on the
    client's care team (or holding an open emergency grant) who may read the note. A
    psychotherapy note: its author only."""
    if actor is None or note.status != "signed":
        return False
    if note.author_id == actor.pk:
        return True
    if note.kind != "progress" or not actor.has_role(*CLINICIAN_ROLES):
        return False
    return _on_team_now(actor, note.client_id) or _has_emergency_grant(
        actor, note.organisation_id, note.client_id
    )


def can_cosign_note(actor, note) -> bool:
    """Co-signing: the author's active supervisor, once, on a signed note that needs it."""
    from kapflow.notes.models import Supervision

    if actor is None or not note.awaiting_cosign or note.author_id == actor.pk:
        return False
    return Supervision.objects.filter(
        supervisee_id=note.author_id, supervisor=actor, ended_at__isnull=True
    ).exists()


def can_export_records(actor, client) -> bool:
    """The records-request bundle (signed progress notes): the client's practice's admins
    and its clinicians on the care team (client.care_team prefetched). Not partners."""
    if actor is None or not _is_practice(actor) or client.organisation_id != actor.organisation_id:
        return False
    if actor.has_role(Role.PRACTICE_ADMIN):
        return True
    return actor.has_role(*CLINICIAN_ROLES) and is_on_care_team(actor, client)


def can_keep_disclosures(actor, client) -> bool:
    """The client's accounting of disclosures (HIPAA 164.528; decision 0037): reading it,
    printing it and recording a disclosure made outside kapflow. The practice that holds the
    record accounts for it: its admins and billers (payment disclosures), and its clinicians
    on the care team (client.care_team prefetched). A partner keeps its own accounting."""
    if actor is None or not _is_practice(actor) or client.organisation_id != actor.organisation_id:
        return False
    if actor.has_role(Role.PRACTICE_ADMIN, Role.BILLER):
        return True
    return actor.has_role(*CLINICIAN_ROLES) and is_on_care_team(actor, client)


def can_manage_supervision(actor) -> bool:
    """Who supervises whom: the practice's admins."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.PRACTICE_ADMIN)


# ---- amendments (HIPAA 164.526; decision 0035) --------------------------------------------
# A client asks to amend their own record in the portal. The practice that holds the record
# decides: its admins and its clinicians who see the client read the requests (selectors);
# only a licensed clinician decides.


def can_decide_amendment(actor, client) -> bool:
    """Accepting or denying a request to amend the client's record, extending its deadline
    and writing a rebuttal: a therapist or prescriber of the practice that holds the record,
    on the client's care team (client.care_team prefetched), holding a current licence in the
    client's state on the practice's day. A partner's prescriber, an admin or a biller never
    decides; neither does an unlicensed clinician."""
    from kapflow.clinical.licensure import Licence, current_licence_in_state
    from kapflow.core import clock

    if actor is None or not _is_practice(actor):
        return False
    if client.organisation_id != actor.organisation_id:
        return False
    if not actor.has_role(*CLINICIAN_ROLES) or not is_on_care_team(actor, client):
        return False
    licences = [
        Licence(lic.licence_type, lic.state, lic.number, lic.expires_on)
        for lic in actor.user.licences.all()
    ]
    today = clock.clinical_date(client.organisation)
    return current_licence_in_state(licences, state=client.state, today=today) is not None


# ---- the local outbox (decision 0039) ------------------------------------------------------
# In demo mode mail is kept in the database instead of sent. Each person reads the mail
# addressed to them; invitation mail also goes to whoever may act on the invitation, so a demo
# visitor can follow the link they caused to be sent. No one reads another person's password
# reset or reminder.


def can_view_outbox(user) -> bool:
    """The outbox page exists in demo mode only; any signed-in person may open it."""
    from django.conf import settings

    return bool(settings.KAPFLOW_DEMO_MODE) and user.is_authenticated


def outbox_invitations_queryset(actor) -> QuerySet | None:
    """The invitations whose mail `actor` may read in the outbox, besides their own mail: a
    practice admin every invitation of their organisation, anyone else those they sent; None
    without an acting membership. An invitation link to an existing account works only for
    that account, so reading it gives nothing the actor could not do by inviting again."""
    from kapflow.accounts.models import Invitation

    if actor is None:
        return None
    invitations = Invitation.objects.for_org(actor.organisation)
    if can_manage_members(actor):
        return invitations
    return invitations.filter(invited_by_id=actor.user_id)


# ---- the public directory (decision 0046) ----------------------------------------------------


def can_manage_directory(actor) -> bool:
    """Publishing the practice's and its clinicians' public profiles, and the funnel report:
    the practice's admins."""
    return actor is not None and _is_practice(actor) and actor.has_role(Role.PRACTICE_ADMIN)


def can_work_inquiries(actor) -> bool:
    """Reading and working the practice's consultation requests (contact, book, convert,
    close): its admins and clinicians. An inquiry holds PHI; billers do not see it."""
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(Role.PRACTICE_ADMIN, *CLINICIAN_ROLES)
    )


# ---- billing (issue 15, decision 0045) -----------------------------------------------------
# A practice's billers and admins work invoices, payments, coverage and diagnoses (never notes
# or journals: those questions above leave billers out). A therapist reads the invoices of the
# clients on their care team. A client reads their own statements, receipts and superbills and
# sees and updates their own coverage, in the portal. Companions and partner organisations see
# nothing of it.


def can_work_billing(actor) -> bool:
    """Invoices, charges, payments, refunds, write-offs, coverage, diagnoses, the fee
    schedule and the finance page: a practice's admins and billers."""
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(Role.PRACTICE_ADMIN, Role.BILLER)
    )


def can_manage_billing_setup(actor) -> bool:
    """The fee schedule (new dated rates) and the practice's billing settings (tax id,
    currency, rounding): the practice's admins and billers, as for the rest of its billing."""
    return can_work_billing(actor)


def invoices_queryset(actor) -> QuerySet:
    """The invoices a staff member may read: every invoice of the practice for its billers
    and admins; for its therapists, those of clients on their care team."""
    from kapflow.billing.models import Invoice
    from kapflow.patients import grants

    if actor is None or not _is_practice(actor):
        return Invoice.objects.none()
    invoices = Invoice.objects.for_org(actor.organisation)
    if can_work_billing(actor):
        return invoices
    if actor.has_role(Role.THERAPIST):
        on_team = grants.holds_grant(actor.pk, client="client_id")
        return invoices.filter(on_team)
    return Invoice.objects.none()


def can_list_invoices(actor) -> bool:
    """The invoice list: a practice's billers, admins and therapists (their clients')."""
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(Role.PRACTICE_ADMIN, Role.BILLER, Role.THERAPIST)
    )


def can_edit_coverage(actor, client) -> bool:
    """A client's coverage: the practice's billers and admins, and the client themself."""
    if actor is None or client.organisation_id != actor.organisation_id:
        return False
    if can_work_billing(actor):
        return True
    return actor.has_role(Role.CLIENT) and client.user_id == actor.user_id


# Kinds a client may ever book in the portal; a practice may narrow this, never widen it.
# Dosing stays staff-booked (the client may ask for one).
SELF_BOOKABLE_KINDS = frozenset({"preparation", "integration", "followup"})


def can_self_schedule(actor, kind: str, allowed_kinds=SELF_BOOKABLE_KINDS) -> bool:
    """A client books, moves or cancels their own session of `kind` in the portal: a client
    of a practice, a kind in SELF_BOOKABLE_KINDS and in the practice's own list."""
    return (
        actor is not None
        and _is_practice(actor)
        and actor.has_role(Role.CLIENT)
        and kind in SELF_BOOKABLE_KINDS
        and kind in set(allowed_kinds or ())
    )


# ---- the session room (issue 19, decision 0049) -------------------------------------------
# Only the appointment's own people sit in its room: the therapist and prescriber on it, its
# client, a companion of its client (named on the appointment, or any companion of the client
# for an at-home dosing), and a clinician the therapist invited. Everyone else is told "not
# found", the same as for an appointment that does not exist.


def room_seat_role(actor, appointment, participants) -> str | None:
    """The seat the actor takes in the appointment's room (`participants`: its
    AppointmentParticipant rows with client and companion), or None."""
    from kapflow.patients.models import Companion

    if actor is None or actor.organisation_id != appointment.organisation_id:
        return None
    for p in participants:
        if p.membership_id is not None and p.membership_id == actor.pk and actor.is_staff_member:
            return "therapist" if p.role == "therapist" else "prescriber"
        mine = actor.user_id
        if p.client_id is not None and p.client.user_id == mine and actor.has_role(Role.CLIENT):
            return "client"
        if (
            p.companion_id is not None
            and p.companion.user_id == mine
            and actor.has_role(Role.COMPANION)
        ):
            return "companion"
    if actor.has_role(Role.COMPANION) and appointment.kind == "dosing":
        client_ids = [p.client_id for p in participants if p.client_id is not None]
        if Companion.objects.filter(client_id__in=client_ids, user_id=actor.user_id).exists():
            return "companion"
    return None


def can_host_room(actor, seat_role: str | None) -> bool:
    """Admit, remove, invite and end: the appointment's therapist."""
    return actor is not None and actor.is_staff_member and seat_role == "therapist"


def can_be_invited_to_room(invitee, appointment) -> bool:
    """A prescriber or second clinician the therapist may invite: a clinician of the
    appointment's practice, or a partner prescriber on the client's care team."""
    if invitee is None or not invitee.is_active or not invitee.is_staff_member:
        return False
    if not invitee.has_role(Role.THERAPIST, Role.PRESCRIBER):
        return False
    if invitee.organisation_id == appointment.organisation_id:
        return True
    client = appointment.course.client if appointment.course_id else None
    return client is not None and is_on_care_team(invitee, client)


# ---- FHIR (decision 0048) -----------------------------------------------------------------


def can_use_fhir(actor) -> bool:
    """The FHIR API at /fhir/R4 is a staff interface, scoped like the staff pages: clients
    take their own record from the portal, companions get nothing."""
    return is_staff_actor(actor)


def can_download_own_record(actor) -> bool:
    """A client taking their whole record as a FHIR file (HIPAA right of access): the client
    themself, from the portal."""
    return is_client_actor(actor)


def responses_queryset(actor) -> QuerySet:
    """Submitted questionnaire responses whose scores the actor may see (can_see_scores as
    a queryset): the practice's clinicians and admins for the clients they see; a partner
    prescriber only where a live referral to them shared scores (decision 0018)."""
    from kapflow.assessments.models import Response
    from kapflow.prescriptions.models import Referral

    if not can_see_clinical(actor):
        return Response.objects.none()
    visible = Response.objects.filter(client_id__in=clients_queryset(actor).values("pk"))
    if _is_practice(actor):
        return visible
    shared = (
        Referral.objects.filter(
            client_id=OuterRef("client_id"), partner_id=actor.organisation_id, prescriber=actor,
            share_scores=True,
        )
        .exclude(status="withdrawn")
    )  # fmt: skip
    return visible.filter(Exists(shared))


def practitioners_queryset(actor) -> QuerySet:
    """Staff memberships a staff actor may name: the members of their own organisation and
    the care-team members of the clients they see."""
    from kapflow.accounts.models import STAFF_ROLES, Membership
    from kapflow.patients import grants

    if not is_staff_actor(actor):
        return Membership.objects.none()
    on_teams = grants.open_grants(client_id__in=clients_queryset(actor).values("pk")).values(
        "membership_id"
    )
    return Membership.objects.filter(
        Q(organisation_id=actor.organisation_id) | Q(pk__in=on_teams),
        roles__role__in=STAFF_ROLES,
    ).distinct()


def organisations_queryset(actor) -> QuerySet:
    """The actor's own organisation and those it partners with (either side)."""
    from kapflow.accounts.models import Organisation, Partnership

    if not is_staff_actor(actor):
        return Organisation.objects.none()
    linked = Partnership.objects.filter(
        Q(practice_id=actor.organisation_id) | Q(partner_id=actor.organisation_id)
    )
    return Organisation.objects.filter(
        Q(pk=actor.organisation_id)
        | Q(pk__in=linked.values("practice_id"))
        | Q(pk__in=linked.values("partner_id"))
    )
