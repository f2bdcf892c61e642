"""Deactivating a member takes their access away at once: pages, API tokens, records
(issue 20 found `membership_deactivate` run by no test)."""

import pytest
from django.urls import reverse

from kapflow.accounts import services
from kapflow.accounts.models import Membership
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError, NotFound
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def test_an_admin_deactivates_a_therapist_and_it_is_audited(world):
    services.membership_deactivate(actor=world.admin, membership_id=world.therapist.pk)
    assert Membership.objects.get(pk=world.therapist.pk).is_active is False
    event = AuditEvent.objects.get(action="membership.deactivate")
    assert (event.actor_id, event.target_id) == (world.admin.pk, world.therapist.pk)


def test_nobody_deactivates_themself(world):
    with pytest.raises(DomainError) as refused:
        services.membership_deactivate(actor=world.admin, membership_id=world.admin.pk)
    assert refused.value.code == "membership.self"
    assert Membership.objects.get(pk=world.admin.pk).is_active


@pytest.mark.parametrize("who", ["therapist", "biller", "other_admin"])
def test_only_an_admin_of_the_same_practice_may_deactivate(world, who):
    with pytest.raises(NotFound):
        services.membership_deactivate(actor=getattr(world, who), membership_id=world.therapist2.pk)
    assert Membership.objects.get(pk=world.therapist2.pk).is_active


def test_a_deactivated_therapist_loses_the_record_and_the_api_at_once(client, world):
    _, raw = services.api_token_create(actor=world.therapist, name="t", mfa_verified=True)
    api = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    record = reverse("patients:detail", args=[world.client.pk])
    sign_in(client, world.therapist.user)
    assert client.get(record).status_code == 200
    assert client.get(f"/api/v1/clients/{world.client.pk}", **api).status_code == 200

    services.membership_deactivate(actor=world.admin, membership_id=world.therapist.pk)

    assert client.get(record).status_code in (302, 403, 404)
    assert client.get(f"/api/v1/clients/{world.client.pk}", **api).status_code in (401, 403)


def test_the_member_page_deactivates_through_the_form(client, world):
    sign_in(client, world.admin.user)
    url = reverse("accounts:member", args=[world.therapist2.pk])
    page = client.get(url)
    assert b"Deactivate member" in page.content
    response = client.post(url, {"form": "deactivate"}, follow=True)
    assert response.status_code == 200
    assert b"Member deactivated." in response.content
    assert Membership.objects.get(pk=world.therapist2.pk).is_active is False
