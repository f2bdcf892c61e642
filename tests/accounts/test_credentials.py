"""Licences and certificates; roles management by admins."""

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services
from kapflow.accounts.models import ClinicianLicence
from kapflow.core.errors import NotFound
from tests.conftest import sign_in


def test_clinician_adds_own_licence_page(client, world):
    sign_in(client, world.therapist2.user)
    response = client.post(
        f"/members/{world.therapist2.pk}/",
        {"form": "licence", "licence_type": "LPC", "state": "WA", "number": "W-1"},
    )
    assert response.status_code == 302
    assert ClinicianLicence.objects.filter(user=world.therapist2.user, state="WA").exists()


def test_licence_with_unknown_state_names_the_field(world):
    with pytest.raises(ValidationError) as exc:
        services.licence_add(
            actor=world.therapist,
            membership=world.therapist,
            data={"licence_type": "LMFT", "state": "XX", "number": "1"},
        )
    assert "state" in exc.value.message_dict


def test_colleague_cannot_edit_anothers_credentials(world):
    with pytest.raises(NotFound):
        services.licence_add(
            actor=world.therapist2,
            membership=world.therapist,
            data={"licence_type": "LMFT", "state": "OR", "number": "2"},
        )


def test_admin_cannot_remove_own_admin_role(world):
    with pytest.raises(ValidationError) as exc:
        services.membership_set_roles(
            actor=world.admin, membership_id=world.admin.pk, roles=["therapist"]
        )
    assert "roles" in exc.value.message_dict


def test_admin_sets_roles_of_a_member(world):
    services.membership_set_roles(
        actor=world.admin, membership_id=world.therapist.pk, roles=["therapist", "biller"]
    )
    from tests.accounts.factories import reload_actor

    assert reload_actor(world.therapist).role_set == {"therapist", "biller"}


def test_admin_of_other_org_cannot_touch_our_members(world):
    with pytest.raises(NotFound):
        services.membership_set_roles(
            actor=world.other_admin, membership_id=world.therapist.pk, roles=["biller"]
        )
