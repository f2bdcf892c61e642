"""The caseload and the client list fit a screen (issue 17): a name search sent by POST and
never remembered, filters remembered per person in the session, one line per course, and
the pinned query count unchanged by remembered filters."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.courses.views import CASELOAD_FILTERS
from kapflow.patients.views import CLIENT_FILTERS
from tests.conftest import sign_in
from tests.courses.factories import make_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_courses(world):
    world.client.legal_last_name, world.client.legal_first_name = "Ashgrove", "Marin"
    world.client.save()
    world.unreferred.legal_last_name = "Birchwood"
    world.unreferred.save()
    active = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active")  # fmt: skip
    intake = make_course(world.unreferred, world.therapist, stage="intake")
    return active, intake


def test_the_name_search_is_posted_and_never_remembered(client, world, two_courses):
    sign_in(client, world.therapist.user)
    response = client.post("/courses/", {"q": "ashg"}, HTTP_HX_REQUEST="true",
                           HTTP_HX_TARGET="course-results")  # fmt: skip
    rows = response.content.decode()
    assert response.status_code == 200 and "<html" not in rows
    assert "Ashgrove" in rows and "Birchwood" not in rows
    assert "1 course matching the name" in rows
    # By client number too; a word that matches nobody lists nobody.
    by_number = client.post("/courses/", {"q": str(world.unreferred.pk)}).content.decode()
    assert "Birchwood" in by_number and "Ashgrove" not in by_number
    assert "No courses match." in client.post("/courses/", {"q": "zzzz"}).content.decode()
    # Nothing of the name is kept: the next visit lists both.
    assert "ashg" not in str(client.session.get(CASELOAD_FILTERS))
    page = client.get("/courses/").content.decode()
    assert "Ashgrove" in page and "Birchwood" in page
    # The page's form posts: a name typed never lands in a URL.
    assert 'method="post" action="/courses/" id="course-filters"' in page


def test_filters_are_remembered_per_person_until_cleared(client, world, two_courses):
    sign_in(client, world.therapist.user)
    client.post("/courses/", {"stage": "intake", "sort": "name"})
    assert client.session[CASELOAD_FILTERS] == {"stage": "intake", "sort": "name"}
    page = client.get("/courses/").content.decode()
    assert "Birchwood" in page and "Ashgrove" not in page
    assert 'data-testid="remembered-filters"' in page
    assert '<option value="intake" selected>' in page
    # Another person's caseload is not filtered by it.
    other = client_class_sign_in(world.therapist2.user)
    assert CASELOAD_FILTERS not in other.session
    # "Clear" (a link: no name in it) starts afresh.
    page = client.get("/courses/", {"status": "open"}).content.decode()
    assert "Birchwood" in page and "Ashgrove" in page
    assert client.session[CASELOAD_FILTERS] == {"status": "open"}
    assert 'data-testid="remembered-filters"' not in page


def test_an_invalid_remembered_filter_falls_back_to_the_defaults(client, world, two_courses):
    sign_in(client, world.therapist.user)
    session = client.session
    session[CASELOAD_FILTERS] = {"therapist": "999999", "stage": "nonsense"}
    session.save()
    response = client.get("/courses/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Birchwood" in page and "Ashgrove" in page
    assert client.session[CASELOAD_FILTERS] == {}


def test_remembered_filters_cost_no_extra_query(client, world, two_courses):
    sign_in(client, world.therapist.user)
    client.get("/courses/")
    with CaptureQueriesContext(connection) as plain:
        client.get("/courses/")
    client.post("/courses/", {"stage": "intake"})
    client.get("/courses/")
    with CaptureQueriesContext(connection) as remembered:
        page = client.get("/courses/").content.decode()
    assert "Ashgrove" not in page
    assert len(remembered.captured_queries) == len(plain.captured_queries)


def test_one_line_per_course_with_every_blocker_still_in_the_page(client, world, two_courses):
    sign_in(client, world.therapist.user)
    page = client.get("/courses/").content.decode()
    assert page.count('<details class="blockers">') >= 1
    assert 'data-code="screen.missing"' in page  # inside the disclosure
    assert '<th scope="col" class="hide-sm">Therapist</th>' not in page
    sign_in(client, world.admin.user)
    assert (
        '<th scope="col" class="hide-sm">Therapist</th>' in client.get("/courses/").content.decode()
    )


def test_the_client_list_remembers_its_state_and_sort_but_not_the_search(client, world):
    world.client.state, world.unreferred.state = "OR", "WA"
    world.client.save()
    world.unreferred.save()
    sign_in(client, world.therapist.user)
    client.post("/clients/", {"q": world.client.legal_last_name, "state": "WA", "sort": "newest"})
    assert client.session[CLIENT_FILTERS] == {"state": "WA", "sort": "newest"}
    page = client.get("/clients/").content.decode()
    assert world.unreferred.legal_last_name in page
    assert world.client.legal_last_name not in page
    assert f'value="{world.client.legal_last_name}"' not in page  # the term is gone
    page = client.get("/clients/", {"sort": "name"}).content.decode()
    assert world.client.legal_last_name in page and world.unreferred.legal_last_name in page


def client_class_sign_in(user):
    from django.test import Client

    other = Client()
    sign_in(other, user)
    other.get("/courses/")
    return other
