"""membership_deactivate takes a member's access away (issue 20): who may do it, what the
person loses on their very next request, and the audit trail it leaves.

The service ends no session and no care-team row: access ends because a deactivated
membership is never an actor again (memberships_for_user and TokenAuth skip it), so every
grant that names the membership stops counting.
"""

import pytest
from django.urls import reverse

from kapflow.accounts import services
from kapflow.accounts.models import Membership, Role
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError, NotFound
from kapflow.patients.models import CareTeamMember
from tests.accounts.factories import member
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def _active(membership) -> bool:
    return Membership.objects.get(pk=membership.pk).is_active


def _deactivations() -> int:
    return AuditEvent.objects.filter(action="membership.deactivate").count()


def _bearer(membership) -> dict:
    _, raw = services.api_token_create(actor=membership, name="t", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# ---- who may deactivate --------------------------------------------------------------------


def test_the_audit_row_names_the_admin_the_member_and_the_practice(world):
    returned = services.membership_deactivate(actor=world.admin, membership_id=world.biller.pk)

    assert returned.pk == world.biller.pk and returned.is_active is False
    assert not _active(world.biller)
    event = AuditEvent.objects.get(action="membership.deactivate")
    assert event.actor_id == world.admin.user_id
    assert event.organisation_id == world.practice.pk
    assert (event.target_type, event.target_id) == ("membership", world.biller.pk)


def test_an_admin_cannot_deactivate_themself_and_nothing_is_written(world):
    with pytest.raises(DomainError) as refused:
        services.membership_deactivate(actor=world.admin, membership_id=world.admin.pk)

    assert refused.value.code == "membership.self"
    assert refused.value.message == "You cannot deactivate yourself."
    assert _active(world.admin)
    assert _deactivations() == 0


@pytest.mark.parametrize("who", ["therapist", "therapist2", "biller", "client_member"])
def test_a_member_of_the_practice_who_is_not_its_admin_is_told_not_found(world, who):
    with pytest.raises(NotFound):
        services.membership_deactivate(actor=getattr(world, who), membership_id=world.biller.pk)

    assert _active(world.biller)
    assert _deactivations() == 0


def test_another_practices_admin_gets_not_found(world):
    with pytest.raises(NotFound):
        services.membership_deactivate(actor=world.other_admin, membership_id=world.therapist.pk)

    assert _active(world.therapist)
    assert _deactivations() == 0


def test_an_admin_cannot_reach_a_member_of_another_organisation(world):
    for outsider in (world.other_therapist, world.prescriber):
        with pytest.raises(NotFound):
            services.membership_deactivate(actor=world.admin, membership_id=outsider.pk)
        assert _active(outsider)
    assert _deactivations() == 0


def test_an_id_that_exists_nowhere_is_not_found(world):
    with pytest.raises(NotFound):
        services.membership_deactivate(actor=world.admin, membership_id=10**9)
    assert _deactivations() == 0


# ---- what the person loses at once ----------------------------------------------------------


def test_the_signed_in_therapist_loses_the_record_and_the_caseload_on_the_next_request(
    client, world
):
    record = reverse("patients:detail", args=[world.client.pk])
    sign_in(client, world.therapist.user)
    assert client.get(record).status_code == 200

    services.membership_deactivate(actor=world.admin, membership_id=world.therapist.pk)

    # The session is still signed in, but it has no membership to act through.
    assert client.get(record).status_code == 404
    assert client.get(reverse("courses:dashboard")).status_code == 404


def test_the_api_token_and_fhir_refuse_the_deactivated_members_token(client, world):
    api = _bearer(world.therapist)
    url = f"/api/v1/clients/{world.client.pk}"
    assert client.get(url, **api).status_code == 200

    services.membership_deactivate(actor=world.admin, membership_id=world.therapist.pk)

    assert client.get(url, **api).status_code == 401
    assert client.get(f"/fhir/R4/Patient/{world.client.pk}", **api).status_code == 401


def test_a_deactivated_partner_prescribers_care_team_grant_no_longer_opens_the_client(
    client, world
):
    partner_admin = member(world.partner, Role.PRACTICE_ADMIN)
    api = _bearer(world.prescriber)
    url = f"/api/v1/clients/{world.client.pk}"
    assert client.get(url, **api).status_code == 200

    services.membership_deactivate(actor=partner_admin, membership_id=world.prescriber.pk)

    assert client.get(url, **api).status_code == 401
    sign_in(client, world.prescriber.user)
    assert client.get(reverse("patients:detail", args=[world.client.pk])).status_code == 404
    # The grant row itself is kept as history; it simply names a membership nobody acts as.
    assert CareTeamMember.objects.filter(
        membership=world.prescriber, client=world.client, ended_at__isnull=True
    ).exists()


def test_a_person_with_a_second_practice_acts_only_there_after_deactivation(client, world):
    second = member(world.other, Role.THERAPIST, user=world.therapist.user)
    sign_in(client, world.therapist.user)
    session = client.session
    session["kapflow_org"] = world.practice.pk
    session.save()

    services.membership_deactivate(actor=world.admin, membership_id=world.therapist.pk)

    assert client.get(reverse("patients:detail", args=[world.client.pk])).status_code == 404
    # The request acted through the Practice B membership, not the deactivated one.
    probe = AuditEvent.objects.filter(action="access.denied").latest("pk")
    assert (probe.actor_id, probe.organisation_id) == (second.user_id, world.other.pk)
    assert probe.record_organisation_id == world.practice.pk


# ---- the member page that calls it ----------------------------------------------------------


def test_the_member_page_deactivates_and_returns_to_the_list(client, world):
    sign_in(client, world.admin.user)
    url = reverse("accounts:member", args=[world.biller.pk])

    response = client.post(url, {"form": "deactivate"})

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:members")
    assert not _active(world.biller)
    assert _deactivations() == 1


def test_the_member_page_shows_the_self_refusal_and_keeps_the_admin_active(client, world):
    sign_in(client, world.admin.user)
    url = reverse("accounts:member", args=[world.admin.pk])

    response = client.post(url, {"form": "deactivate"})

    assert response.status_code == 200
    assert b"You cannot deactivate yourself." in response.content
    assert _active(world.admin)
    assert _deactivations() == 0


def test_a_therapist_posting_deactivate_changes_nothing(client, world):
    sign_in(client, world.therapist.user)
    url = reverse("accounts:member", args=[world.therapist2.pk])
    response = client.post(url, {"form": "deactivate"})

    assert b"Deactivate member" not in response.content
    assert _active(world.therapist2)
    assert _deactivations() == 0


def test_another_practices_admin_gets_404_from_the_member_page_and_the_probe_is_recorded(
    client, world
):
    sign_in(client, world.other_admin.user)
    url = reverse("accounts:member", args=[world.therapist.pk])

    assert client.post(url, {"form": "deactivate"}).status_code == 404
    assert _active(world.therapist)
    assert _deactivations() == 0
    probe = AuditEvent.objects.get(action="access.denied")
    assert probe.actor_id == world.other_admin.user_id
    assert probe.record_organisation_id == world.practice.pk
    assert (probe.target_type, probe.target_id) == ("membership", world.therapist.pk)
