"""Pages and endpoints issue a fixed number of queries whatever the data size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts.models import Role
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.patients.factories import ClientFactory, on_team


def _make_clients(world, n):
    clients = ClientFactory.create_batch(n, organisation=world.practice)
    for c in clients:
        on_team(c, world.therapist)
        on_team(c, world.prescriber, role="prescriber")


def _count(client, method, url, **kwargs):
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 200, response.content[:200]
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("role", "method", "url"),
    [
        ("admin", "get", "/clients/"),
        ("therapist", "get", "/clients/"),
        ("prescriber", "get", "/clients/"),
        ("admin", "get", "/api/v1/clients"),
        ("therapist", "get", "/api/v1/clients"),
    ],
)
def test_client_list_queries_do_not_grow_from_5_to_500(client, world, role, method, url):
    sign_in(client, getattr(world, role).user)
    _make_clients(world, 5)
    small = _count(client, method, url)
    _make_clients(world, 495)
    large = _count(client, method, url)
    assert small == large


def test_client_list_query_count_is_pinned(client, world, django_assert_num_queries):
    _make_clients(world, 30)
    sign_in(client, world.admin.user)
    client.get("/")  # session warm-up
    # session, user, otp device, memberships + roles, count, page, care teams, audit insert,
    # session save; pinned so a new N+1 fails loudly.
    with CaptureQueriesContext(connection) as ctx:
        client.get("/clients/")
    pinned = len(ctx.captured_queries)
    _make_clients(world, 30)
    with django_assert_num_queries(pinned):
        client.get("/clients/")


def test_client_detail_queries_do_not_grow_with_care_team(client, world):
    sign_in(client, world.admin.user)
    first = _count(client, "get", f"/clients/{world.client.pk}/")
    for _ in range(10):
        on_team(world.client, member(world.practice, Role.THERAPIST), role="therapist")
    assert _count(client, "get", f"/clients/{world.client.pk}/") == first
