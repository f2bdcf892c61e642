"""Client and care-team services: success, every failure, nothing half-saved."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts.models import Role
from kapflow.core.errors import DomainError, NotFound
from kapflow.patients import services
from kapflow.patients.models import CareTeamMember, Client
from tests.accounts.factories import PartnerFactory, member

VALID = {
    "legal_first_name": "Robin",
    "legal_last_name": "Example",
    "date_of_birth": datetime.date(1990, 2, 3),
    "state": "OR",
}


def test_therapist_creates_client_and_joins_care_team(world):
    client = services.client_create(actor=world.therapist, data=VALID)
    assert client.organisation == world.practice
    team = CareTeamMember.objects.get(client=client)
    assert (team.membership, team.role, team.is_primary) == (world.therapist, "therapist", True)


def test_admin_creates_client_without_joining_team(world):
    client = services.client_create(actor=world.admin, data=VALID)
    assert not CareTeamMember.objects.filter(client=client).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date_of_birth", datetime.date(2999, 1, 1)),
        ("state", "ZZ"),
        ("postal_code", "12"),
        ("email", "not-an-email"),
        ("legal_last_name", ""),
    ],
)
def test_create_rejects_bad_field_by_name_and_saves_nothing(world, field, value):
    before = (Client.objects.count(), CareTeamMember.objects.count())
    with pytest.raises(ValidationError) as exc:
        services.client_create(actor=world.therapist, data={**VALID, field: value})
    assert field in exc.value.message_dict
    assert (Client.objects.count(), CareTeamMember.objects.count()) == before


@pytest.mark.parametrize("role", ["biller", "prescriber", "client_member", "companion"])
def test_create_refused_for_roles_that_may_not(world, role):
    with pytest.raises(NotFound):
        services.client_create(actor=getattr(world, role), data=VALID)


def test_update_by_other_organisation_is_not_found(world):
    with pytest.raises(NotFound):
        services.client_update(
            actor=world.other_admin, client_id=world.client.pk, data={"pronouns": "x"}
        )


def test_partner_prescriber_added_from_partnered_organisation(world):
    newcomer = member(world.partner, Role.PRESCRIBER, licences=[("MD", "OR")])
    added, findings = services.care_team_add(
        actor=world.therapist,
        client_id=world.unreferred.pk,
        membership_id=newcomer.pk,
        role="prescriber",
    )
    assert findings == []
    assert added.licence_warning == ""


def test_prescriber_from_unpartnered_organisation_cannot_be_added(world):
    stranger = member(PartnerFactory(), Role.PRESCRIBER, licences=[("MD", "OR")])
    with pytest.raises(ValidationError) as exc:
        services.care_team_add(
            actor=world.admin,
            client_id=world.client.pk,
            membership_id=stranger.pk,
            role="prescriber",
        )
    assert "membership" in exc.value.message_dict


def test_assignment_without_licence_in_client_state_warns_then_records(world):
    world.client.state = "WA"
    world.client.save()
    count = CareTeamMember.objects.count()
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            actor=world.admin,
            client_id=world.client.pk,
            membership_id=world.therapist2.pk,
            role="therapist",
        )
    assert exc.value.code == "care_team.licence_warning"
    assert "Washington" in exc.value.message
    assert CareTeamMember.objects.count() == count
    added, findings = services.care_team_add(
        actor=world.admin,
        client_id=world.client.pk,
        membership_id=world.therapist2.pk,
        role="therapist",
        acknowledge_warnings=True,
    )
    assert [f.code for f in findings] == ["licence.state_mismatch"]
    assert "Washington" in added.licence_warning


def test_role_must_match_membership_roles(world):
    with pytest.raises(ValidationError) as exc:
        services.care_team_add(
            actor=world.admin,
            client_id=world.unreferred.pk,
            membership_id=world.therapist2.pk,
            role="prescriber",
        )
    assert "role" in exc.value.message_dict


def test_removing_requires_a_reason_and_ends_access(world):
    grant = CareTeamMember.objects.get(client=world.client, membership=world.prescriber)
    with pytest.raises(ValidationError) as exc:
        services.care_team_remove(
            actor=world.admin, client_id=world.client.pk, member_id=grant.pk, reason=" "
        )
    assert "reason" in exc.value.message_dict
    services.care_team_remove(
        actor=world.admin, client_id=world.client.pk, member_id=grant.pk, reason="Care ended"
    )
    grant.refresh_from_db()
    assert grant.ended_at is not None and grant.ended_reason == "Care ended"
    from kapflow.patients.selectors import client_get_for_actor

    with pytest.raises(NotFound):
        client_get_for_actor(actor=world.prescriber, client_id=world.client.pk)


def test_detail_page_shows_todays_licensure_not_the_stale_one(client, world):
    from tests.conftest import sign_in

    sign_in(client, world.admin.user)
    page = client.get(f"/clients/{world.client.pk}/").content.decode()
    assert "Licensed in OR" in page and "licence.state_mismatch" not in page
    world.client.state = "WA"  # the client moved
    world.client.save()
    page = client.get(f"/clients/{world.client.pk}/").content.decode()
    assert 'data-code="licence.state_mismatch"' in page
    assert "Washington" in page


@pytest.mark.parametrize("term", ["²", "٣", "12345678901234567890", "%", "_", "' OR 1=1 --"])
def test_odd_search_terms_do_not_crash(world, term):
    from kapflow.patients.selectors import ClientListQuery, client_list

    page = client_list(actor=world.admin, query=ClientListQuery(search=term))
    assert page.paginator.count == 0


def test_client_number_finds_the_client(world):
    from kapflow.patients.selectors import ClientListQuery, client_list

    page = client_list(actor=world.admin, query=ClientListQuery(search=str(world.client.pk)))
    assert world.client in page.object_list


def test_partner_loses_access_when_partnership_ends(world):
    from kapflow.accounts.models import Partnership
    from kapflow.patients.selectors import client_get_for_actor

    assert client_get_for_actor(actor=world.prescriber, client_id=world.client.pk)
    Partnership.objects.filter(partner=world.partner).delete()
    with pytest.raises(NotFound):
        client_get_for_actor(actor=world.prescriber, client_id=world.client.pk)
