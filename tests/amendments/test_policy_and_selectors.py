"""Who decides (policy.can_decide_amendment) and who reads (the selectors): the practice's
licensed clinicians on the care team decide; its admins and those clinicians read; a partner,
billers, other practices and clinicians off the team read nothing ("not found"). The queue
sorts by due date, flags what is overdue in the practice's day, and pins its queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow import policy
from kapflow.accounts.models import ClinicianLicence, Role
from kapflow.amendments import selectors, services
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.patients.models import Client
from tests.accounts.factories import member, reload_actor
from tests.amendments.factories import ask, deny
from tests.patients.factories import ClientFactory, on_team

pytestmark = pytest.mark.django_db


def _client(world, record=None):
    return Client.objects.prefetch_related("care_team").get(pk=(record or world.client).pk)


# ---- policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("therapist", True), ("therapist2", False), ("admin", False), ("biller", False),
     ("prescriber", False), ("client_member", False), ("companion", False),
     ("other_admin", False), ("other_therapist", False)],
)  # fmt: skip
def test_only_a_licensed_clinician_of_the_practice_on_the_team_decides(world, role, expected):
    assert policy.can_decide_amendment(getattr(world, role), _client(world)) is expected


def test_a_practice_prescriber_on_the_team_licensed_there_decides(world):
    prescriber = member(world.practice, Role.PRESCRIBER, licences=[("NP", "OR")])
    on_team(world.client, prescriber, role="prescriber")
    assert policy.can_decide_amendment(prescriber, _client(world))


def test_a_lapsed_licence_or_one_elsewhere_does_not_count(world):
    licence = ClinicianLicence.objects.get(user=world.therapist.user)
    licence.expires_on = clock.clinical_date(world.practice) - dt.timedelta(days=1)
    licence.save()
    assert not policy.can_decide_amendment(reload_actor(world.therapist), _client(world))
    licence.expires_on, licence.state = None, "WA"
    licence.save()
    assert not policy.can_decide_amendment(reload_actor(world.therapist), _client(world))


def test_a_clinician_whose_team_row_ended_no_longer_decides(world):
    world.client.care_team.filter(membership=world.therapist).update(ended_at=clock.now())
    assert not policy.can_decide_amendment(world.therapist, _client(world))


# ---- selectors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sees"),
    [("therapist", True), ("admin", True), ("therapist2", False), ("other_admin", False),
     ("other_therapist", False)],
)  # fmt: skip
def test_the_queue_holds_the_practices_requests_for_those_who_read_them(world, role, sees):
    row = ask(world)
    assert [r.pk for r in selectors.amendment_queue(actor=getattr(world, role))] == (
        [row.pk] if sees else []
    )


@pytest.mark.parametrize("role", ["biller", "prescriber", "client_member", "companion"])
def test_the_queue_is_not_found_for_who_reads_no_requests(world, role):
    ask(world)
    with pytest.raises(NotFound):
        selectors.amendment_queue(actor=getattr(world, role))


@pytest.mark.parametrize(
    "role", ["therapist2", "biller", "prescriber", "other_admin", "other_therapist"]
)
def test_one_request_is_not_found_for_who_may_not_read_it(world, role):
    row = ask(world)
    with pytest.raises(NotFound):
        selectors.amendment_get_for_actor(actor=getattr(world, role), amendment_id=row.pk)
    probe = AuditEvent.objects.get(action="access.denied", target_id=row.pk)
    assert probe.record_organisation_id == world.practice.pk


def test_the_queue_sorts_by_due_date_and_flags_the_overdue(world, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    old = ask(world, part="demographics", part_description="")
    time_machine.move_to(clock.now() + dt.timedelta(days=30), tick=False)
    new = ask(world)
    decided = deny(world, ask(world, part="other", part_description="My intake"))
    time_machine.move_to(clock.now() + dt.timedelta(days=31), tick=False)
    rows = selectors.amendment_queue(actor=world.therapist)
    assert [r.pk for r in rows] == [old.pk, new.pk]
    assert [r.overdue for r in rows] == [True, False]
    assert rows[1].days_left == 29
    everything = selectors.amendment_queue(actor=world.therapist, show="all")
    assert [r.pk for r in everything] == [old.pk, new.pk, decided.pk]
    # Each listed request is audited (the list shows clients' names).
    assert AuditEvent.objects.filter(action="amendment.list").count() == 5


def test_the_queue_pins_its_queries(world, django_assert_num_queries):
    ask(world)
    with CaptureQueriesContext(connection) as one:
        selectors.amendment_queue(actor=world.admin)
    for _ in range(15):
        person = member(world.practice, Role.CLIENT)
        record = ClientFactory(organisation=world.practice, user=person.user)
        on_team(record, world.therapist)
        services.amendment_request(
            actor=person, part="demographics", what_is_wrong="a", should_say="b", why="c"
        )
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(selectors.amendment_queue(actor=world.admin)) == 16


def test_the_client_reads_only_their_own(world):
    row = ask(world)
    assert [r.pk for r in selectors.own_amendments(actor=world.client_member)] == [row.pk]
    for role in ("therapist", "companion", "admin"):
        with pytest.raises(NotFound):
            selectors.own_amendments(actor=getattr(world, role))


def test_the_client_record_page_section_is_for_the_practices_clinical_readers(world):
    row = ask(world)
    client = _client(world)
    for role, expected in [("therapist", [row.pk]), ("admin", [row.pk]), ("biller", []),
                           ("prescriber", [])]:  # fmt: skip
        rows = selectors.amendments_for_client(actor=getattr(world, role), client=client)
        assert [r.pk for r in rows] == expected, role
