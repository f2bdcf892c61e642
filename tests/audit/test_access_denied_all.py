# ruff: noqa: E501  (the probe table reads best one probe per line)
"""Issue 13: a denied (404) request for any tenant record, by id, from a page or the API,
leaves one `access.denied` row (ids only) that the organisation holding the record sees and
the prober's own organisation does not (decision 0033, "Extended").

The probe table names every kind of record reached by id; practice B's admin asks for
practice A's record of that kind. Then the partner prescriber, a client and a companion
probe too, and the mechanism's own promises are checked: nothing for a missing id, the same
404 body either way, the row written only after the response went out, one row per record
per request, and a route table that names every page's and endpoint's first id.
"""

import datetime
import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from tests.accounts.factories import member
from tests.conftest import sign_in

DENIED = "access.denied"


@pytest.fixture
def records(world):
    """One record of every kind in practice A (and one session of practice B, so B's admin
    can name A's timeline entry under a session of their own)."""
    from kapflow.accounts import services as accounts
    from kapflow.alerts.models import Alert
    from kapflow.assessments import services as assessments
    from kapflow.assessments.models import Response, UrgentTask
    from kapflow.encounters.models import DosingSession, GroupSession, TimelineEntry
    from kapflow.journal.models import JournalEntry
    from kapflow.messaging.models import Attachment
    from kapflow.patients.models import CareTeamMember, Companion
    from kapflow.prescriptions.models import RefillRequest
    from kapflow.scheduling import services as scheduling
    from kapflow.scheduling.models import Appointment
    from tests.consents.factories import current
    from tests.courses.factories import make_course
    from tests.messaging.factories import PDF, care_thread, upload
    from tests.notes.factories import draft, supervise
    from tests.prescriptions.factories import evaluate, prescribe

    now = timezone.now()
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    prescription = prescribe(course, doses=1, quantity=1)
    referral = evaluate(course, world.prescriber).referral
    session = DosingSession.objects.create(
        organisation=world.practice, course=course, client=world.client, delivery="in_person",
        opened_by=world.therapist.user,
    )  # fmt: skip
    other_course = make_course(world.other_client, world.other_therapist, stage="active", doses=0)
    thread = care_thread(world, attachments=[upload("plan.pdf", PDF, "application/pdf")])
    assignment = assessments.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    response = Response.objects.create(
        organisation=world.practice, client=world.client, instrument="phq9", source="staff",
        answers={}, total=3, submitted_at=now, entered_by=world.therapist.user,
    )  # fmt: skip
    _, token = accounts.api_token_create(actor=world.therapist, name="probe", mfa_verified=True)
    r = {
        "client": world.client,
        "course": course,
        "note": draft(world.client, world.therapist),
        "appointment": Appointment.objects.create(
            organisation=world.practice,
            kind="therapy",
            course=course,
            starts_at=now,
            ends_at=now + datetime.timedelta(hours=1),
            time_zone="America/Los_Angeles",
            created_by=world.therapist.user,
        ),
        "membership": world.therapist,
        "apitoken": world.therapist.tokens.get(),
        "invitation": accounts.invitation_create(
            actor=world.admin, email="new.person@example.test", roles=["therapist"]
        ),
        "careteammember": CareTeamMember.objects.get(
            client=world.client, membership=world.therapist
        ),
        "companion": Companion.objects.get(client=world.client),
        "dosingsession": session,
        "timelineentry": TimelineEntry.objects.create(
            organisation=world.practice,
            session=session,
            kind="note",
            occurred_at=now,
            recorded_by=world.therapist.user,
            data={"text": "Settled."},
        ),
        "groupsession": GroupSession.objects.create(
            organisation=world.practice, created_by=world.therapist.user
        ),
        "referral": referral,
        "prescription": prescription,
        "dispense": prescription.dispenses.get(),
        "refillrequest": RefillRequest.objects.create(
            organisation=world.practice,
            course=course,
            prescription=prescription,
            prescriber=world.prescriber,
            doses_left=1,
            fills_left=0,
        ),
        "assignment": assignment,
        "response": response,
        "urgenttask": UrgentTask.objects.create(
            organisation=world.practice,
            client=world.client,
            response=response,
            codes=["phq9.item9"],
            level="moderate",
        ),
        "consentdocument": current(world.practice),
        "consentsignature": world.client.consent_signatures.order_by("id").first(),
        "thread": thread,
        "attachment": Attachment.objects.get(message__thread=thread),
        "journalentry": JournalEntry.objects.create(
            organisation=world.practice, client=world.client, kind="integration", body="Quiet."
        ),
        "alert": Alert.objects.create(
            organisation=world.practice,
            client=world.client,
            kind="help_now",
            raised_by=world.client_member.user,
            raised_by_role="client",
            severity="emergency",
        ),
        "supervision": supervise(world.therapist2, world.therapist),
        "availabilityrule": scheduling.availability_rule_add(
            actor=world.therapist,
            membership_id=world.therapist.pk,
            weekday=0,
            start_time=datetime.time(9),
            end_time=datetime.time(17),
        ),
        **_money_and_front_door(world),
        # Practice B's own records, named by B's admin beside A's.
        "own_client": world.other_client,
        "own_therapist": world.other_therapist,
        "own_session": DosingSession.objects.create(
            organisation=world.other,
            course=other_course,
            client=world.other_client,
            delivery="in_person",
            opened_by=world.other_therapist.user,
        ),
        "token_secret": token,
    }
    return r


def _money_and_front_door(world) -> dict:
    """Practice A's billing rows (an issued invoice with a payment, a diagnosis, a
    subscription, last month's statement) and a consultation request."""
    from kapflow.billing import services as billing
    from kapflow.billing.models import Statement
    from kapflow.core import clock
    from kapflow.directory.models import Inquiry
    from tests.billing.factories import fee_schedule, issued_invoice
    from tests.directory.factories import publish

    fee_schedule(world.practice)
    invoice = issued_invoice(world)
    _, card = publish(world)
    payment = billing.payment_record(
        actor=world.biller, invoice_id=invoice.pk, amount="10.00", method="manual"
    )
    month = clock.clinical_date(world.practice).replace(day=1)
    billing.statements_run(organisation=world.practice, month_start=month)
    return {
        "invoice": invoice,
        "payment": payment,
        "diagnosis": billing.diagnosis_add(
            actor=world.biller, client_id=world.client.pk, code="F33.1"
        ),
        "subscription": billing.subscription_start(
            actor=world.biller,
            client_id=world.client.pk,
            name="Low-dose monthly",
            monthly_amount="129.00",
            billing_day=1,
        ),
        "statement": Statement.objects.filter(organisation=world.practice).first(),
        "inquiry": Inquiry.objects.create(
            organisation=world.practice,
            clinician=card,
            first_name="Sam",
            last_name="Probe",
            email="sam.probe@example.test",
            date_of_birth=datetime.date(1990, 1, 1),
            client_state="OR",
            token_hash="0" * 64,
            created_at=clock.now(),
        ),
    }


def _ids(r: dict) -> dict:
    return {name: getattr(obj, "pk", None) for name, obj in r.items()}


API = "/api/v1"
SHIP = {"shipped_on": "2027-01-04"}
REASON = {"reason": "Probe."}

# (probe, method, path, body, kind): `kind` is the model the one row names. Paths name
# records by their key in `records`; page and API probes for every kind reached by id.
PROBES = [
    ("client page", "get", "/clients/{client}/", None, "client"),
    ("client api", "get", API + "/clients/{client}", None, "client"),
    ("client api patch", "patch", API + "/clients/{client}", {"pronouns": "x"}, "client"),
    ("client notes page", "get", "/notes/clients/{client}/", None, "client"),
    ("client notes api", "get", API + "/notes/clients/{client}", None, "client"),
    ("client assessments page", "get", "/assessments/clients/{client}/", None, "client"),
    ("client assessments api", "get", API + "/assessments/clients/{client}", None, "client"),
    ("client outcomes page", "get", "/outcomes/clients/{client}/", None, "client"),
    ("client outcomes api", "get", API + "/outcomes/clients/{client}/scores", None, "client"),
    ("client consents page", "get", "/consents/clients/{client}/", None, "client"),
    ("client consents api", "get", API + "/consents/clients/{client}", None, "client"),
    ("course page", "get", "/courses/{course}/", None, "course"),
    ("course api", "get", API + "/courses/{course}", None, "course"),
    ("course write api", "post", API + "/courses/{course}/transitions", {"action": "complete"}, "course"),
    ("course journal page", "get", "/journal/courses/{course}/", None, "course"),
    ("course journal api", "get", API + "/journal/courses/{course}/entries", None, "course"),
    ("course alerts page", "get", "/alerts/courses/{course}/banner/", None, "course"),
    ("course alerts api", "get", API + "/alerts/courses/{course}/open", None, "course"),
    ("note page", "get", "/notes/{note}/", None, "note"),
    ("note api", "get", API + "/notes/{note}", None, "note"),
    ("note write api", "delete", API + "/notes/{note}", None, "note"),
    ("appointment page", "get", "/schedule/{appointment}/", None, "appointment"),
    ("appointment api", "get", API + "/schedule/appointments/{appointment}", None, "appointment"),
    ("appointment cancel api", "post", API + "/schedule/appointments/{appointment}/cancel", {"version": 1, "reason": "Probe."}, "appointment"),
    ("member page", "get", "/members/{membership}/", None, "membership"),
    ("member availability api", "get", API + "/schedule/availability/{membership}", None, "membership"),
    ("api token page", "post", "/security/tokens/{apitoken}/revoke/", {}, "apitoken"),
    ("api token api", "delete", API + "/tokens/{apitoken}", None, "apitoken"),
    ("invitation page", "post", "/invitations/{invitation}/revoke/", {}, "invitation"),
    ("care team member api", "post", API + "/clients/{own_client}/care-team/{careteammember}/end", REASON, "careteammember"),
    ("session page", "get", "/sessions/{dosingsession}/", None, "dosingsession"),
    ("session api", "get", API + "/sessions/{dosingsession}", None, "dosingsession"),
    ("session checklist page", "get", "/sessions/{dosingsession}/checklist/", None, "dosingsession"),
    ("timeline entry page", "get", "/sessions/{own_session}/entries/{timelineentry}/correct/", None, "timelineentry"),
    ("group page", "get", "/sessions/groups/{groupsession}/", None, "groupsession"),
    ("group api", "get", API + "/sessions/groups/{groupsession}", None, "groupsession"),
    ("referral page", "get", "/prescribing/referrals/{referral}/", None, "referral"),
    ("referral api", "get", API + "/prescribing/referrals/{referral}", None, "referral"),
    ("evaluation page", "get", "/prescribing/referrals/{referral}/evaluation/", None, "referral"),
    ("evaluation api", "get", API + "/prescribing/referrals/{referral}/evaluation", None, "referral"),
    ("prescription page", "get", "/prescribing/prescriptions/{prescription}/", None, "prescription"),
    ("prescription api", "get", API + "/prescribing/prescriptions/{prescription}", None, "prescription"),
    ("dose authorisation api", "post", API + "/prescribing/prescriptions/{prescription}/dose-authorisations", {"amount_mg": "100", "session_on": "2027-01-04", "reason": "Probe."}, "prescription"),
    ("fill page", "post", "/prescribing/prescriptions/{prescription}/fills/{dispense}/ship/", SHIP, "dispense"),
    ("refill request page", "post", "/prescribing/prescriptions/{prescription}/refills/{refillrequest}/decline/", REASON, "refillrequest"),
    ("assessment response page", "get", "/assessments/responses/{response}/", None, "response"),
    ("assessment response api", "post", API + "/assessments/responses/{response}/corrections", REASON, "response"),
    ("urgent task page", "get", "/assessments/urgent/{urgenttask}/", None, "urgenttask"),
    ("assessment link page", "post", "/assessments/assignments/{assignment}/send-link/", {}, "assignment"),
    ("assignment portal page", "get", "/assessments/mine/{assignment}/", None, "assignment"),
    ("assignment portal api", "post", API + "/assessments/assignments/{assignment}/answers", {"answers": {}, "submit": False}, "assignment"),
    ("consent document page", "get", "/consents/documents/{consentdocument}/", None, "consentdocument"),
    ("consent document api", "get", API + "/consents/documents/{consentdocument}", None, "consentdocument"),
    ("consent document portal page", "get", "/consents/mine/{consentdocument}/sign/", None, "consentdocument"),
    ("consent document portal api", "get", API + "/consents/mine/documents/{consentdocument}", None, "consentdocument"),
    ("signature page", "get", "/consents/signatures/{consentsignature}/", None, "consentsignature"),
    ("signature api", "get", API + "/consents/signatures/{consentsignature}", None, "consentsignature"),
    ("signature portal page", "get", "/consents/mine/signed/{consentsignature}/", None, "consentsignature"),
    ("thread page", "get", "/messages/{thread}/", None, "thread"),
    ("thread api", "get", API + "/messages/{thread}", None, "thread"),
    ("thread reply api", "post", API + "/messages/{thread}/messages", {"body": "Probe."}, "thread"),
    ("attachment page", "get", "/messages/attachments/{attachment}/", None, "attachment"),
    ("journal entry page", "get", "/journal/{journalentry}/edit/", None, "journalentry"),
    ("journal entry api", "get", API + "/journal/entries/{journalentry}", None, "journalentry"),
    ("alert page", "get", "/alerts/{alert}/", None, "alert"),
    ("alert api", "get", API + "/alerts/{alert}", None, "alert"),
    ("alert sent page", "get", "/alerts/sent/{alert}/", None, "alert"),
    ("companion page", "get", "/me/companions/{companion}/", None, "companion"),
    ("supervision page", "post", "/notes/supervision/", {"end": "{supervision}"}, "supervision"),
    ("invoice page", "get", "/billing/invoices/{invoice}/", None, "invoice"),
    ("invoice api", "get", API + "/billing/invoices/{invoice}", None, "invoice"),
    ("payment refund api", "post", API + "/billing/payments/{payment}/refunds", {"amount": "1.00", "reason": "Probe."}, "payment"),
    ("diagnosis api", "delete", API + "/billing/diagnoses/{diagnosis}", None, "diagnosis"),
    ("subscription cancel api", "post", API + "/billing/subscriptions/{subscription}/cancel", None, "subscription"),
    ("statement portal page", "get", "/billing/me/statements/{statement}.pdf", None, "statement"),
    ("inquiry page", "get", "/directory/inquiries/{inquiry}/", None, "inquiry"),
    ("availability rule page", "post", "/schedule/availability/?member={own_therapist}", {"action": "remove_rule", "id": "{availabilityrule}"}, "availabilityrule"),
]  # fmt: skip


def _request(client, method, path, body, ids):
    path = path.format(**ids)
    if path.startswith(API):
        data = json.dumps(body) if body is not None else None
        kwargs = {"data": data, "content_type": "application/json"} if data else {}
    else:
        kwargs = {"data": {k: str(v).format(**ids) for k, v in (body or {}).items()}}
    return getattr(client, method)(path, **kwargs)


def _last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _denied_since(before: int):
    return list(AuditEvent.objects.filter(id__gt=before, action=DENIED).order_by("id"))


def _audit_count(client, membership) -> int:
    sign_in(client, membership.user)
    return client.get(API + "/audit", {"kind": DENIED}).json()["count"]


@pytest.mark.parametrize(
    ("probe", "method", "path", "body", "kind"), PROBES, ids=[p[0] for p in PROBES]
)
def test_another_practices_admin_probing_by_id_is_recorded_for_the_holder(
    client, world, records, probe, method, path, body, kind
):
    ids = _ids(records)
    sign_in(client, world.other_admin.user)
    before = _last_id()

    response = _request(client, method, path, body, ids)

    assert response.status_code == 404, response.content[:300]
    [row] = _denied_since(before)
    assert (row.target_type, row.target_id) == (kind, ids[kind])
    assert (row.actor_id, row.organisation_id) == (world.other_admin.user_id, world.other.pk)
    assert (row.record_organisation_id, row.client_id) == (world.practice.pk, None)
    assert _audit_count(client, world.admin) == 1
    assert _audit_count(client, world.other_admin) == 0


def test_every_kind_reached_by_id_is_probed():
    """The table above covers each model a route names first (ROUTE_SUBJECTS) and the ones
    named deeper in a path or a form (a fill, a refill request, a timeline entry, a
    care-team row, a supervision, an availability rule)."""
    from kapflow.audit.services import ROUTE_SUBJECTS

    probed = {p[4] for p in PROBES}
    routed = {label.split(".")[1].lower() for label in ROUTE_SUBJECTS.values()}
    # Amendment requests and emergency-access grants are their own apps' probes.
    assert routed - {"amendmentrequest", "emergencyaccess"} <= probed
    deeper = {"dispense", "refillrequest", "timelineentry", "careteammember", "supervision"}
    assert deeper | {"availabilityrule"} <= probed


# ---- other probers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/clients/{client}/", "client"),
        (API + "/clients/{client}", "client"),
        ("/courses/{course}/", "course"),
        (API + "/courses/{course}", "course"),
        ("/notes/clients/{client}/", "client"),
        (API + "/outcomes/clients/{client}/scores", "client"),
    ],
)
def test_a_partner_asking_for_a_client_not_referred_to_it_is_shown_to_the_practice(
    client, world, path, kind
):
    from tests.courses.factories import make_course

    course = make_course(world.unreferred, world.therapist)
    ids = {"client": world.unreferred.pk, "course": course.pk}
    sign_in(client, world.prescriber.user)
    before = _last_id()

    assert client.get(path.format(**ids)).status_code == 404

    [row] = _denied_since(before)
    assert (row.target_type, row.target_id) == (kind, ids[kind])
    assert (row.organisation_id, row.record_organisation_id) == (
        world.partner.pk,
        world.practice.pk,
    )
    assert _audit_count(client, world.admin) == 1
    assert _audit_count(client, member(world.partner, Role.PRACTICE_ADMIN)) == 0


def test_a_client_asking_for_another_clients_journal_entry_is_recorded(client, world):
    from kapflow.journal.models import JournalEntry
    from tests.patients.factories import ClientFactory

    someone = ClientFactory(organisation=world.practice)
    entry = JournalEntry.objects.create(
        organisation=world.practice, client=someone, kind="integration", body="Private."
    )
    sign_in(client, world.client_member.user)
    before = _last_id()

    assert client.get(f"/journal/{entry.pk}/edit/").status_code == 404
    assert client.get(f"{API}/journal/entries/{entry.pk}").status_code == 404

    rows = _denied_since(before)
    assert [(r.target_type, r.target_id) for r in rows] == [("journalentry", entry.pk)] * 2
    assert {(r.actor_id, r.record_organisation_id) for r in rows} == {
        (world.client_member.user_id, world.practice.pk)
    }
    assert _audit_count(client, world.admin) == 2


def test_a_companion_asking_for_another_companion_row_is_recorded(client, world):
    from kapflow.patients.models import Companion
    from tests.patients.factories import ClientFactory

    someone = ClientFactory(organisation=world.practice)
    theirs = Companion.objects.create(
        organisation=world.practice, client=someone, user=member(world.practice).user
    )
    sign_in(client, world.companion.user)
    before = _last_id()

    assert client.get(f"/me/companions/{theirs.pk}/").status_code == 404

    [row] = _denied_since(before)
    assert (row.target_type, row.target_id) == ("companion", theirs.pk)
    assert (row.actor_id, row.record_organisation_id) == (
        world.companion.user_id,
        world.practice.pk,
    )


def test_a_client_on_a_staff_page_is_recorded_for_the_record_it_names(client, world, records):
    sign_in(client, world.client_member.user)
    before = _last_id()

    assert client.get(f"/courses/{records['course'].pk}/").status_code == 404
    assert client.get(f"{API}/sessions/{records['dosingsession'].pk}").status_code == 404

    rows = _denied_since(before)
    assert [(r.target_type, r.target_id) for r in rows] == [
        ("course", records["course"].pk),
        ("dosingsession", records["dosingsession"].pk),
    ]


# ---- the mechanism -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/schedule/99999999/",
        API + "/prescribing/prescriptions/99999999",
        "/messages/attachments/99999999/",
        "/journal/99999999/edit/",
        API + "/consents/mine/documents/99999999",
        "/me/companions/99999999/",
    ],
)
def test_an_id_that_exists_nowhere_leaves_no_row(client, world, path):
    sign_in(client, world.other_admin.user)
    before = _last_id()
    assert client.get(path).status_code == 404
    assert _denied_since(before) == []


@pytest.mark.parametrize(
    "path",
    [
        API + "/schedule/appointments/{appointment}",
        API + "/prescribing/referrals/{referral}",
        API + "/messages/{thread}",
        API + "/journal/entries/{journalentry}",
        API + "/consents/mine/documents/{consentdocument}",
    ],
)
def test_the_answer_is_the_same_for_an_id_held_elsewhere_and_one_held_nowhere(
    client, world, records, path
):
    sign_in(client, world.other_admin.user)
    held = client.get(path.format(**_ids(records)))
    nowhere = client.get(path.format(**dict.fromkeys(_ids(records), 99999999)))
    assert held.status_code == nowhere.status_code == 404
    assert held.content == nowhere.content
    assert held.headers.keys() == nowhere.headers.keys()


def _close(response):
    """Close as a server would, without request_finished closing the test's connection (as
    Django's test client does)."""
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def test_the_row_is_written_after_the_response_is_sent(rf, world, records):
    """The chained INSERT waits for the server's close(): the prober's answer is not
    slowed by it, so its timing does not tell a held id from a missing one."""
    from django.http import HttpResponseNotFound

    from kapflow.audit.middleware import DeniedAccessMiddleware
    from kapflow.audit.services import audit_access_denied
    from kapflow.scheduling.models import Appointment

    def view(request):
        audit_access_denied(
            actor=world.other_admin, model=Appointment, object_id=records["appointment"].pk
        )
        return HttpResponseNotFound()

    before = _last_id()
    response = DeniedAccessMiddleware(view)(rf.get("/"))
    assert response.status_code == 404 and _denied_since(before) == []
    _close(response)
    assert [r.target_id for r in _denied_since(before)] == [records["appointment"].pk]


def test_one_record_asked_twice_in_one_request_is_one_row(rf, world, records):
    from django.http import HttpResponseNotFound

    from kapflow.audit.middleware import DeniedAccessMiddleware
    from kapflow.audit.services import audit_not_found
    from kapflow.prescriptions.models import Referral

    def view(request):
        for _ in range(3):
            audit_not_found(
                actor=world.other_admin, model=Referral, object_id=records["referral"].pk
            )
        return HttpResponseNotFound()

    before = _last_id()
    _close(DeniedAccessMiddleware(view)(rf.get("/")))
    assert len(_denied_since(before)) == 1


@pytest.mark.parametrize(
    ("reader", "path"),
    [
        ("admin", "/schedule/{appointment}/"),
        ("admin", API + "/prescribing/referrals/{referral}"),
        ("therapist", "/messages/{thread}/"),
        ("admin", API + "/sessions/{dosingsession}"),
        ("admin", "/consents/signatures/{consentsignature}/"),
        ("client_member", API + "/journal/entries/{journalentry}"),
    ],
)
def test_an_allowed_read_never_asks_who_holds_the_record(
    client, world, records, monkeypatch, reader, path
):
    """The holder lookup is on the miss path only: the allowed path's queries are unchanged."""
    from kapflow.audit import services

    def refuse(**kwargs):
        raise AssertionError(f"denied-access lookup on an allowed read: {kwargs}")

    monkeypatch.setattr(services, "audit_access_denied", refuse)
    sign_in(client, getattr(world, reader).user)
    before = _last_id()
    assert client.get(path.format(**_ids(records))).status_code == 200
    assert _denied_since(before) == []


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def test_every_route_that_names_a_record_first_is_in_the_route_table():
    """A gate that refuses before any lookup records the route's first id: every page and
    endpoint whose path starts with an `<int:…>` names a model the table knows."""
    import re

    from django.apps import apps

    from kapflow.audit.services import ROUTE_SUBJECTS

    first_ids = set()
    for route, _ in _routes(get_resolver().url_patterns):
        if route.startswith("platform-admin/"):
            continue
        found = re.search(r"<(\w+):(\w+)>", route)
        if found and found.group(1) == "int":
            first_ids.add(found.group(2))
    assert first_ids, "no routes found"
    assert first_ids <= ROUTE_SUBJECTS.keys(), first_ids - ROUTE_SUBJECTS.keys()
    for name in first_ids:
        fields = {f.name for f in apps.get_model(ROUTE_SUBJECTS[name])._meta.get_fields()}
        assert "organisation" in fields or name == "token_id", name
