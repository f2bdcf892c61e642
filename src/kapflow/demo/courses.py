"""The demo's clients' courses of care, written row by row from their plans (`plan`,
`referrals`, `prescriptions`, `consents`), with the portal accounts of clients who log doses.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from kapflow.demo.consents import plan_consents
from kapflow.demo.people import DEMO_PASSWORD
from kapflow.demo.plan import (
    CONDITIONS,
    DEMO_COURSES,
    JORDAN_COURSE,
    REACHED,
    DemoCourse,
    plan_course,
)
from kapflow.demo.prescriptions import DEA_NUMBER, INSTRUCTIONS, PHARMACY, plan_supply
from kapflow.demo.referrals import plan_referral


def _portal_account(
    *, client, email: str, full_name: str, roles: list[str], invited_by, relationship: str = ""
):
    """A demo client's or companion's portal account, made the way a real one is: an
    invitation for `client` accepted through accounts.services.invitation_accept, which
    creates the account (with the demo password), its membership and role in the practice,
    and links the record (role client) or adds the companion row (role companion). The
    invitation's token is minted here because nothing is e-mailed. Returns the membership."""
    import secrets

    from django.conf import settings

    from kapflow.accounts.models import Invitation, User, hash_secret
    from kapflow.accounts.services import invitation_accept

    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organisation=client.organisation, email=email, roles=roles, client=client,
        companion_relationship=relationship, token_hash=hash_secret(token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=settings.KAPFLOW_INVITATION_DAYS),
    )  # fmt: skip
    invitation.full_clean()
    invitation.save()
    return invitation_accept(
        token=token, user=User.objects.filter(email__iexact=email).first(),
        full_name=full_name, password=DEMO_PASSWORD,
    )  # fmt: skip


def _client_user(client, *, invited_by):
    """The portal account of a client who logs daily doses: invited by their therapist and
    accepted once, so it signs in (password DEMO_PASSWORD) to a client membership."""
    if client.user_id is None:
        _portal_account(
            client=client, email=client.email.lower(), roles=["client"], invited_by=invited_by,
            full_name=f"{client.legal_first_name} {client.legal_last_name}",
        )  # fmt: skip
        client.refresh_from_db(fields=["user"])
    return client.user


def load_courses(*, practice, therapists, prescriber, own, companion, documents, seed: int) -> dict:
    """One course (or a closed one and a current one) for each demo client, per
    DEMO_COURSES, once: clients that have any course already are left alone. With each
    course, its referral, medical evaluation, eligibility decision, prescriptions, fills,
    doses used and refill requests (kapflow.prescriptions), and the client's consent
    signatures (kapflow.consents). Returns what it created."""
    from kapflow.clinical import prescribing as rx_rules
    from kapflow.consents.models import ConsentSignature, ConsentWithdrawal
    from kapflow.courses.models import Course, CourseEvent, GateSettings
    from kapflow.patients.models import CareTeamMember, Client, Companion
    from kapflow.prescriptions.models import (
        Dispense,
        DoseUse,
        EligibilityDecision,
        MedicalEvaluation,
        Prescription,
        Referral,
        RefillRequest,
    )

    gate, _ = GateSettings.objects.get_or_create(organisation=practice)
    now = timezone.now()
    licensed = {m.pk: set(m.user.licences.values_list("state", flat=True)) for m in therapists}
    index = {m.pk: n for n, m in enumerate(therapists)}
    clients = list(
        Client.objects.for_org(practice)
        .exclude(pk=own.pk)
        .prefetch_related("care_team")
        .order_by("pk")
    )

    def therapist_of(client):
        for member in client.care_team.all():
            if member.role == "therapist" and member.is_primary and member.ended_at is None:
                return member.membership_id
        return None

    # Courses that dose need a therapist licensed in the client's state: those pick first.
    def doses(spec: DemoCourse) -> bool:
        return REACHED.get(spec.via or spec.stage, REACHED["active"]) >= REACHED["active"]

    assigned: dict[int, tuple[int, DemoCourse]] = {}
    order = sorted(range(len(DEMO_COURSES)), key=lambda n: not doses(DEMO_COURSES[n]))
    for n in order:
        spec = DEMO_COURSES[n]
        for client in clients:
            member = therapist_of(client)
            if client.pk in assigned or index.get(member) != spec.therapist:
                continue
            if doses(spec) and client.state not in licensed[member]:
                continue
            assigned[client.pk] = (n, spec)
            break
    plans = [(client, *assigned[client.pk]) for client in clients if client.pk in assigned]
    plans.append((own, "own", JORDAN_COURSE))
    has_course = set(
        Course.objects.filter(client__in=[c for c, *_ in plans]).values_list("client_id", flat=True)
    )

    courses, planned, companions, referred = [], [], [], {}
    for client, key, spec in plans:
        if client.pk in has_course:
            continue
        therapist = therapists[spec.therapist]
        for item in filter(None, [spec.previous, spec]):
            rng = random.Random(f"{seed}:{key}:{item.stage}")
            plan = plan_course(item, rng=rng, now=now, therapist=therapist, prescriber=prescriber)
            condition = (
                item.condition or CONDITIONS[(key if isinstance(key, int) else 0) % len(CONDITIONS)]
            )
            courses.append(
                Course(organisation=practice, client=client, therapist=therapist,
                       condition=condition, **plan.fields)
            )  # fmt: skip
            planned.append((item, plan, therapist, f"{seed}:{key}:{item.stage}"))
            for event in plan.events:
                if event.get("action") == "refer":
                    referred.setdefault(client.pk, (event["occurred_at"], therapist.user_id))
            if plan.companion_at is not None:
                companions.append((client, plan.companion_at, therapist))
    created = Course.objects.bulk_create(courses)

    # The referral workflow, then the prescriptions (which add their timeline events).
    workflow, supplies = [], []
    for course, (item, plan, therapist, key) in zip(created, planned, strict=True):
        referral = plan_referral(
            item, plan, course=course, rng=random.Random(f"{key}:referral"), now=now,
            therapist=therapist, prescriber=prescriber,
        )  # fmt: skip
        if referral is not None:
            workflow.append(referral)
        supply = plan_supply(
            item, plan, rng=random.Random(f"{key}:supply"), now=now, prescriber=prescriber,
            threshold=gate.refill_threshold,
        )  # fmt: skip
        if supply is not None:
            supplies.append((course, therapist, supply))
    Referral.objects.bulk_create([referral for referral, _e, _d in workflow])
    MedicalEvaluation.objects.bulk_create([e for _r, e, _d in workflow if e is not None])
    EligibilityDecision.objects.bulk_create([d for _r, _e, d in workflow if d is not None])

    prescriptions = []
    for course, _therapist, supply in supplies:
        item = rx_rules.PRODUCTS[supply.product]
        n = supply.dose // supply.strength
        for p in supply.prescriptions:
            written_on = timezone.localdate(p.written_at)
            prescriptions.append(
                Prescription(
                    organisation=practice, course=course, prescriber=prescriber,
                    product=supply.product, drug=item.drug, rxcui=item.rxcui, form=item.form,
                    route=item.route.value, strength_mg=Decimal(supply.strength),
                    dose_mg=Decimal(supply.dose), frequency=supply.frequency,
                    pathway=course.pathway, quantity=supply.quantity, refills=p.refills,
                    instructions=INSTRUCTIONS[course.pathway].format(
                        n=n, strength=supply.strength, s="s" if n > 1 else ""
                    ),
                    dea_number=DEA_NUMBER, written_on=written_on,
                    expires_on=rx_rules.expires_on(written_on), created_at=p.written_at,
                    status="cancelled" if p.cancelled_at else "active",
                    cancelled_at=p.cancelled_at,
                    cancelled_by_id=prescriber.user_id if p.cancelled_at else None,
                    cancel_reason=p.cancel_reason, **PHARMACY,
                )
            )  # fmt: skip
    Prescription.objects.bulk_create(prescriptions)
    saved = iter(prescriptions)
    dispenses, requests = [], []
    for course, _therapist, supply in supplies:
        for p in supply.prescriptions:
            p.saved = next(saved)
            p.event["data"] = {
                "prescription_id": p.saved.pk, "product": supply.product,
                "dose_mg": str(supply.dose), "quantity": supply.quantity, "refills": p.refills,
            }  # fmt: skip
            for number, f in enumerate(p.fills):
                day = timezone.localdate(f["at"])
                dispenses.append(
                    Dispense(
                        organisation=practice, prescription=p.saved, fill_number=number,
                        quantity=f["quantity"], dispensed_on=day, shipped_on=day,
                        tracking=f["tracking"], received_on=f["received_on"],
                        recorded_by_id=prescriber.user_id, recorded_at=f["recorded_at"],
                    )
                )  # fmt: skip
        for r in supply.requests:
            requests.append(
                RefillRequest(
                    organisation=practice, course=course, prescription=r["rx"].saved,
                    prescriber=prescriber, doses_left=r["doses_left"],
                    fills_left=max(r["rx"].refills + 1 - r["fills"], 0), status=r["status"],
                    raised_at=r["raised_at"], resolved_at=r["resolved_at"],
                    resolved_by_id=prescriber.user_id if r["resolved_at"] else None,
                    note=r["note"],
                )
            )  # fmt: skip
    Dispense.objects.bulk_create(dispenses)
    RefillRequest.objects.bulk_create(requests)

    # The client's signatures, planned before the timeline is saved (they add its events).
    consents, signed_by_client = [], {}
    for course, (item, plan, _therapist, key) in zip(created, planned, strict=True):
        consents += plan_consents(
            item, plan, course=course, rng=random.Random(f"{key}:consent"), now=now,
            documents=documents, signed=signed_by_client.setdefault(course.client_id, set()),
        )  # fmt: skip
    ConsentSignature.objects.bulk_create([signature for signature, _w in consents])
    ConsentWithdrawal.objects.bulk_create([w for _s, w in consents if w is not None])

    rows: dict[int, CourseEvent] = {}  # id() of each planned event -> its row
    for course, (_item, plan, _therapist, _key) in zip(created, planned, strict=True):
        for event in sorted(plan.events, key=lambda e: e["occurred_at"]):
            rows[id(event)] = CourseEvent(organisation=practice, course=course, **event)
    CourseEvent.objects.bulk_create(list(rows.values()))

    uses = []
    for course, therapist, supply in supplies:
        client_user = (
            _client_user(course.client, invited_by=therapist.user) if supply.self_logs else None
        )
        for p in supply.prescriptions:
            for use in p.uses:
                session = use["source"] == "session"
                uses.append(
                    DoseUse(
                        organisation=practice, course=course, prescription=p.saved,
                        source=use["source"], used_at=use["at"],
                        taken_on=timezone.localdate(use["at"]), amount_mg=use["amount"],
                        note=use["note"],
                        dosing_event=rows[id(use["event"])] if session else None,
                        recorded_by_id=therapist.user_id if session else client_user.pk,
                        recorded_at=use["event"]["recorded_at"] if session else use["at"],
                    )
                )  # fmt: skip
    DoseUse.objects.bulk_create(uses)

    # The referral is the partner prescriber's access grant (decision 0005); withdrawing it
    # ended the grant.
    withdrawn = {
        r.client_id: r.status_changed_at for r, _e, _d in workflow if r.status == "withdrawn"
    }
    on_team = set(
        CareTeamMember.objects.filter(
            client_id__in=referred, membership=prescriber, ended_at__isnull=True
        ).values_list("client_id", flat=True)
    )
    CareTeamMember.objects.bulk_create(
        [
            CareTeamMember(
                organisation=practice,
                client_id=pk,
                membership=prescriber,
                role="prescriber",
                is_primary=True,
                added_by_id=by,
                added_at=when,
                ended_at=withdrawn.get(pk),
            )
            for pk, (when, by) in referred.items()
            if pk not in on_team
        ]
    )

    # At-home courses past consent have a named companion; the client sign-in's is Riley.
    # Each other companion has an account with a companion membership, as if the client had
    # named them and they had accepted.
    for client, confirmed_at, therapist in companions:
        if client.pk == own.pk:
            companion.confirmed_at = companion.confirmed_at or confirmed_at or None
            companion.save(update_fields=["confirmed_at"])
            continue
        email = f"companion.{client.email}".lower()
        if not Companion.objects.filter(client=client, user__email__iexact=email).exists():
            account = _portal_account(
                client=client, email=email, roles=["companion"],
                full_name=client.emergency_contact_name,
                relationship=client.emergency_contact_relationship,
                invited_by=client.user if client.user_id else therapist.user,
            ).user  # fmt: skip
            Companion.objects.filter(client=client, user=account).update(
                confirmed_at=confirmed_at or None
            )
    if companion.confirmed_at is None:
        companion.confirmed_at = now - timedelta(days=20)
        companion.save(update_fields=["confirmed_at"])
    return {
        "courses": len(created),
        "referrals": len(workflow),
        "evaluations": sum(1 for _r, e, _d in workflow if e is not None),
        "decisions": sum(1 for _r, _e, d in workflow if d is not None),
        "prescriptions": len(prescriptions),
        "dispenses": len(dispenses),
        "dose_uses": len(uses),
        "refill_requests": len(requests),
        "consent_signatures": len(consents),
        "events": len(rows),
    }
