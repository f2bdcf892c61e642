"""Search across clients and courses for staff (kapflow.search): scoped by the same policy as
the client list and the caseload, audited, a fixed number of queries, the term POSTed and
never in a URL (decision 0007)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.audit.models import AuditEvent
from kapflow.search.selectors import LIMIT, MAX_LENGTH
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team

pytestmark = pytest.mark.django_db


def _named(world, last, first="Quill", organisation=None, therapist=None):
    person = ClientFactory(
        organisation=organisation or world.practice, legal_last_name=last, legal_first_name=first
    )
    on_team(person, therapist or world.therapist)
    return person


def _search(client, term):
    return client.post("/search/", {"q": term})


def test_a_therapist_finds_their_clients_and_courses_and_nothing_of_others(client, world):
    mine = _named(world, "Marchetti")
    course = make_course(mine, world.therapist)
    not_mine = _named(world, "Marchetto", therapist=world.therapist2)
    elsewhere = _named(
        world, "Marchettini", organisation=world.other, therapist=world.other_therapist
    )
    sign_in(client, world.therapist.user)
    response = _search(client, "marchet")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/clients/{mine.pk}/" in html and f"/courses/{course.pk}/" in html
    assert f"/clients/{not_mine.pk}/" not in html and "Marchetto" not in html
    assert f"/clients/{elsewhere.pk}/" not in html and "Marchettini" not in html


def test_every_word_must_match_and_a_number_finds_the_client(client, world):
    ada = _named(world, "Ravensworth", first="Ada")
    _named(world, "Ravensworth", first="Bea")
    sign_in(client, world.admin.user)
    html = _search(client, "ada ravens").content.decode()
    assert f"/clients/{ada.pk}/" in html and "Bea" not in html
    assert f"/clients/{ada.pk}/" in _search(client, str(ada.pk)).content.decode()
    nothing = _search(client, "Nobodyhere").content.decode()
    assert 'data-testid="search-nothing"' in nothing


def test_a_biller_finds_clients_but_no_courses(client, world):
    person = _named(world, "Kestrelton")
    make_course(person, world.therapist)
    sign_in(client, world.biller.user)
    html = _search(client, "Kestrelton").content.decode()
    assert f"/clients/{person.pk}/" in html and "/courses/" not in html.split("found-courses")[1]


@pytest.mark.parametrize("who", ["client_member", "companion"])
def test_clients_and_companions_cannot_search(client, world, who):
    sign_in(client, getattr(world, who).user)
    assert _search(client, world.client.legal_last_name).status_code == 404
    assert client.get("/search/").status_code == 404


def test_the_term_stays_out_of_the_url_and_the_header_posts(client, world):
    sign_in(client, world.therapist.user)
    response = client.get("/")
    html = response.content.decode()
    box = html[html.index('class="site-search"') - 200 : html.index('class="site-search"')]
    assert 'method="post"' in box and 'action="/search/"' in box
    # A term typed into the address is ignored: GET shows the empty form and searches nothing.
    before = AuditEvent.objects.count()
    page = client.get("/search/", {"q": world.client.legal_last_name}).content.decode()
    assert f"/clients/{world.client.pk}/" not in page
    assert AuditEvent.objects.count() == before


def test_each_client_and_course_shown_is_audited(client, world):
    person = _named(world, "Wrenfield")
    course = make_course(person, world.therapist)
    sign_in(client, world.therapist.user)
    _search(client, "Wrenfield")
    assert AuditEvent.objects.filter(action="client.list", client_id=person.pk).count() == 1
    assert AuditEvent.objects.filter(
        action="course.list", client_id=person.pk, target_id=course.pk
    ).exists()


def test_the_query_count_is_the_same_for_one_hit_and_many(client, world):
    sign_in(client, world.admin.user)
    first = _named(world, "Larkspur")
    make_course(first, world.therapist)
    client.get("/")
    with CaptureQueriesContext(connection) as one:
        _search(client, "Larkspur")
    for n in range(LIMIT + 5):
        other = _named(world, "Larkspur", first=f"N{n}")
        make_course(other, world.therapist)
    with CaptureQueriesContext(connection) as many:
        html = _search(client, "Larkspur").content.decode()
    assert len(many.captured_queries) == len(one.captured_queries)
    listed = html.split('data-testid="search-clients"')[1].split("</ul>")[0]
    assert listed.count("<li>") == LIMIT and "More clients match" in html


def test_a_long_term_is_cut_not_refused(client, world):
    sign_in(client, world.therapist.user)
    response = _search(client, "x " * 500)
    assert response.status_code == 200
    assert response.context["term"] == ("x " * 500).strip()[:MAX_LENGTH]


def test_a_partner_prescriber_finds_the_practice_clients_on_their_team(client, world):
    sign_in(client, world.prescriber.user)
    html = _search(client, world.client.legal_last_name).content.decode()
    assert f"/clients/{world.client.pk}/" in html
    html = _search(client, world.other_client.legal_last_name).content.decode()
    assert f"/clients/{world.other_client.pk}/" not in html
