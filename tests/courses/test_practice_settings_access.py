"""Who may change a practice's settings: one policy question
(`policy.can_manage_practice_settings`) for the gate thresholds and the in-session
thresholds, on the pages and in the services."""

import pytest
from django.urls import reverse

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.core.errors import NotFound
from kapflow.courses.services import gate_settings_update
from kapflow.encounters.services import session_settings_update
from tests.accounts.factories import member
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

ROLES = ["admin", "therapist", "biller", "prescriber", "client_member", "companion", "other_admin"]


def test_only_a_practices_own_admin_may_change_its_settings(world):
    partner_admin = member(world.partner, Role.PRACTICE_ADMIN)
    allowed = {who for who in ROLES if policy.can_manage_practice_settings(getattr(world, who))}
    assert allowed == {"admin", "other_admin"}  # each for their own practice
    assert not policy.can_manage_practice_settings(partner_admin)
    assert not policy.can_manage_practice_settings(None)


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("page", ["courses:settings", "encounters:settings"])
def test_the_settings_pages_open_for_the_admin_only(client, world, who, page):
    sign_in(client, getattr(world, who).user)
    expected = 200 if who in ("admin", "other_admin") else 404
    assert client.get(reverse(page)).status_code == expected


def test_the_services_refuse_a_partners_admin(world):
    partner_admin = member(world.partner, Role.PRACTICE_ADMIN)
    with pytest.raises(NotFound):
        gate_settings_update(actor=partner_admin, data={"bp_systolic_max": 150})
    with pytest.raises(NotFound):
        session_settings_update(actor=partner_admin, data={})
