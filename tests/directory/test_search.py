"""The public search: by ZIP and radius, by city, online where currently licensed, filters,
full text, paging, and a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts.models import ClinicianLicence, Role
from kapflow.clinical.licensure import Licence, current_licence_in_state
from kapflow.directory import selectors, services
from kapflow.directory.models import ClinicianProfile
from kapflow.directory.selectors import SearchParams, search
from tests.accounts.factories import OrganisationFactory, member
from tests.directory.factories import publish

pytestmark = pytest.mark.django_db


def names(result):
    return [r.display_name for r in result.rows]


def test_zip_centroids_come_from_the_package():
    place = selectors.zip_place("97214")
    assert (place.city, place.state) == ("Portland", "OR")
    assert place.latitude == pytest.approx(45.5142, abs=0.01)
    assert selectors.zip_place("00000") is None
    assert selectors.zip_place("abc") is None


def test_near_zip_within_radius_by_hand(world):
    publish(world)  # practice at 97214 (Portland)
    # 98101 (Seattle) is about 145 miles from 97214: outside 100, inside 250.
    assert names(search(SearchParams(mode="near", zip_code="98101", radius=100))) == []
    found = search(SearchParams(mode="near", zip_code="98101", radius=250))
    assert names(found) == ["Avery Example"]
    assert found.rows[0].distance == pytest.approx(145.5, abs=1.5)
    # 97201 (downtown Portland) is a couple of miles away.
    near = search(SearchParams(mode="near", zip_code="97201", radius=10))
    assert names(near) == ["Avery Example"]
    assert near.rows[0].distance < 5


def test_unknown_zip_names_the_field(world):
    result = search(SearchParams(mode="near", zip_code="1234"))
    assert "zip_code" in result.errors
    assert result.rows == []


def test_by_city(world):
    publish(world)
    assert names(search(SearchParams(mode="city", city="portland", state="OR"))) == [
        "Avery Example"
    ]
    assert names(search(SearchParams(mode="city", city="Salem", state="OR"))) == []


def test_online_only_where_currently_licensed(world, frozen):
    publish(world)
    # Licensed in OR (no expiry) only.
    assert names(search(SearchParams(mode="online", state="OR"))) == ["Avery Example"]
    assert names(search(SearchParams(mode="online", state="WA"))) == []
    today = selectors.today_in_state("WA")
    lic = ClinicianLicence.objects.create(
        user=world.therapist.user, licence_type="LMFT", state="WA", number="W", expires_on=today
    )
    assert names(search(SearchParams(mode="online", state="WA"))) == ["Avery Example"]
    lic.expires_on = today - timedelta(days=1)
    lic.save()
    assert names(search(SearchParams(mode="online", state="WA"))) == []


@pytest.mark.parametrize("offset,expected", [(None, True), (0, True), (1, True), (-1, False)])
def test_sql_licence_filter_agrees_with_the_rule(world, frozen, offset, expected):
    today = selectors.today_in_state("WA")
    expires = None if offset is None else today + timedelta(days=offset)
    ClinicianLicence.objects.create(
        user=world.therapist.user, licence_type="LMFT", state="WA", number="W", expires_on=expires
    )
    publish(world)
    rule = current_licence_in_state([Licence("LMFT", "WA", "W", expires)], state="WA", today=today)
    sql = (
        ClinicianProfile.objects.filter(membership=world.therapist)
        .filter(selectors.current_licence_q(state="WA", today=today))
        .exists()
    )
    assert (rule is not None) is sql is expected


def test_unpublished_is_never_shown(world):
    publish(world)
    services.clinician_profile_save(
        actor=world.admin, membership_id=world.therapist.pk, data={"published": False}
    )
    assert names(search(SearchParams(mode="city", city="Portland", state="OR"))) == []
    services.clinician_profile_save(
        actor=world.admin, membership_id=world.therapist.pk, data={"published": True}
    )
    services.practice_profile_save(actor=world.admin, data={"published": False})
    assert names(search(SearchParams(mode="online", state="OR"))) == []


def test_filters(world):
    publish(world)
    base = {"mode": "city", "city": "Portland", "state": "OR"}
    assert names(search(SearchParams(**base, modality="higher_dose"))) == ["Avery Example"]
    assert names(search(SearchParams(**base, modality="group"))) == []
    assert names(search(SearchParams(**base, condition="ptsd"))) == ["Avery Example"]
    assert names(search(SearchParams(**base, condition="ocd"))) == []
    assert names(search(SearchParams(**base, insurance="self_pay"))) == ["Avery Example"]
    assert names(search(SearchParams(**base, insurance="aetna"))) == []
    assert names(search(SearchParams(**base, price_max=150))) == ["Avery Example"]
    assert names(search(SearchParams(**base, price_max=149))) == []
    services.clinician_profile_save(
        actor=world.admin, membership_id=world.therapist.pk, data={"accepting_new": False}
    )
    assert names(search(SearchParams(**base, accepting=True))) == []


def test_full_text_over_names_and_bios_with_relevance(world):
    publish(world)
    services.clinician_profile_save(
        actor=world.admin,
        membership_id=world.therapist2.pk,
        data={"display_name": "Rowan Trauma", "bio": "Groups.", "published": True},
    )
    base = {"mode": "city", "city": "Portland", "state": "OR"}
    # "trauma" is in Avery's bio and in Rowan's name: the name weighs more.
    assert names(search(SearchParams(**base, q="Trauma"))) == ["Rowan Trauma", "Avery Example"]
    assert names(search(SearchParams(**base, q="avery depression"))) == ["Avery Example"]
    assert names(search(SearchParams(**base, q="nobody"))) == []


def _many(world, n):
    for i in range(n):
        m = member(world.practice, Role.THERAPIST, licences=[("LPC", "OR")])
        services.clinician_profile_save(
            actor=world.admin,
            membership_id=m.pk,
            data={"display_name": f"Clinician {i:02d}", "published": True},
        )


def test_constant_queries_and_paging(world):
    publish(world)
    params = SearchParams(mode="near", zip_code="97214", radius=25)
    with CaptureQueriesContext(connection) as one:
        search(params)
    _many(world, 14)
    with CaptureQueriesContext(connection) as many:
        result = search(params)
    assert len(one) == len(many) == 3
    assert len(result.rows) == selectors.PER_PAGE
    assert result.page.has_next()
    second = search(SearchParams(mode="near", zip_code="97214", radius=25, page=2))
    assert len(second.rows) == 15 - selectors.PER_PAGE


def test_sorted_by_distance(world):
    publish(world)
    other = OrganisationFactory(name="Salem KAP", state="OR")
    admin = member(other, Role.PRACTICE_ADMIN)
    therapist = member(other, Role.THERAPIST, licences=[("LPC", "OR")])
    services.practice_profile_save(
        actor=admin,
        data={"display_name": "Salem KAP", "state": "OR", "zip_code": "97301", "published": True},
    )
    services.clinician_profile_save(
        actor=admin, membership_id=therapist.pk, data={"display_name": "B Salem", "published": True}
    )
    # From 97301 (Salem), Salem comes first though "Avery" sorts first by name.
    found = search(SearchParams(mode="near", zip_code="97301", radius=100, sort="distance"))
    assert names(found) == ["B Salem", "Avery Example"]
    assert found.rows[0].distance < found.rows[1].distance
