"""The care-team add and remove forms on the client page: who may post them, the field each
refusal names, nothing half-saved, and the audit row each change writes (issue 20)."""

import pytest
from django.urls import reverse

from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from kapflow.patients.models import CareTeamMember
from tests.accounts.factories import member
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def _add(client, world, **data):
    url = reverse("patients:care_team_add", args=[world.client.pk])
    return client.post(url, {"role": "therapist", **data})


def _remove(client, target_client, **data):
    return client.post(reverse("patients:care_team_remove", args=[target_client.pk]), data)


def _open_rows(world) -> int:
    return CareTeamMember.objects.filter(client=world.client, ended_at__isnull=True).count()


def _events(action) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _therapist_row(world) -> CareTeamMember:
    return CareTeamMember.objects.get(client=world.client, membership=world.therapist)


# ---- add ------------------------------------------------------------------------------------


def test_an_admin_adds_a_therapist_and_the_grant_is_audited(client, world):
    sign_in(client, world.admin.user)

    response = _add(client, world, membership=world.therapist2.pk, is_primary="on")

    assert response.status_code == 302
    assert response["Location"] == world.client.get_absolute_url()
    row = CareTeamMember.objects.get(client=world.client, membership=world.therapist2)
    assert (row.role, row.is_primary, row.added_by_id) == ("therapist", True, world.admin.user_id)
    event = AuditEvent.objects.get(action="care_team.add")
    assert (event.target_id, event.client_id) == (row.pk, world.client.pk)


def test_a_clinician_not_in_the_list_is_refused_by_the_membership_field(client, world):
    sign_in(client, world.admin.user)
    before = _open_rows(world)

    for outsider in ("", world.other_therapist.pk, 10**9):
        response = _add(client, world, membership=outsider)
        assert response.status_code == 422
        assert response.context["add_form"].errors.keys() == {"membership"}

    assert _open_rows(world) == before
    assert _events("care_team.add") == 0


def test_a_role_the_person_does_not_hold_is_refused_by_the_role_field(client, world):
    sign_in(client, world.admin.user)

    wrong = _add(client, world, membership=world.prescriber.pk, role="therapist")
    unknown = _add(client, world, membership=world.therapist2.pk, role="surgeon")

    assert wrong.status_code == unknown.status_code == 422
    assert wrong.context["add_form"].errors["role"] == [
        "This person does not hold the therapist role."
    ]
    assert "role" in unknown.context["add_form"].errors
    assert _open_rows(world) == 2
    assert _events("care_team.add") == 0


def test_someone_already_on_the_team_is_refused_and_not_added_twice(client, world):
    sign_in(client, world.admin.user)

    response = _add(client, world, membership=world.therapist.pk)

    assert response.status_code == 422
    assert response.context["add_form"].errors["membership"] == [
        "This clinician is already on the care team."
    ]
    assert (
        CareTeamMember.objects.filter(client=world.client, membership=world.therapist).count() == 1
    )


def test_a_licence_warning_asks_for_acknowledgement_then_records_it(client, world):
    elsewhere = member(world.practice, Role.THERAPIST, licences=[("LPC", "WA")])
    sign_in(client, world.admin.user)

    warned = _add(client, world, membership=elsewhere.pk)

    assert warned.status_code == 422
    assert warned.context["licence_warning"].startswith("Licensure:")
    assert warned.context["add_form"].errors["acknowledge_warnings"] == [
        "Tick this box to assign despite the warning."
    ]
    assert not CareTeamMember.objects.filter(membership=elsewhere).exists()

    accepted = _add(client, world, membership=elsewhere.pk, acknowledge_warnings="on")

    assert accepted.status_code == 302
    row = CareTeamMember.objects.get(membership=elsewhere, client=world.client)
    assert row.licence_warning
    assert _events("care_team.add") == 1


@pytest.mark.parametrize(
    ("who", "status"),
    [("therapist2", 404), ("biller", 403), ("other_admin", 404), ("client_member", 404)],
)
def test_who_may_not_add_gets_a_refusal_and_nothing_is_written(client, world, who, status):
    sign_in(client, getattr(world, who).user)
    before = _open_rows(world)

    assert _add(client, world, membership=world.therapist2.pk).status_code == status

    assert _open_rows(world) == before
    assert _events("care_team.add") == 0


def test_the_partner_prescriber_sees_the_client_but_may_not_change_the_team(client, world):
    sign_in(client, world.prescriber.user)

    assert _add(client, world, membership=world.therapist2.pk).status_code == 403
    row = _therapist_row(world)
    assert _remove(client, world.client, member_id=row.pk, reason="x").status_code == 403
    assert _open_rows(world) == 2


def test_the_add_form_takes_only_a_post(client, world):
    sign_in(client, world.admin.user)
    url = reverse("patients:care_team_add", args=[world.client.pk])
    assert client.get(url).status_code == 405


# ---- remove ---------------------------------------------------------------------------------


def test_an_admin_removes_a_clinician_with_a_reason_and_it_is_audited(client, world):
    sign_in(client, world.admin.user)
    row = _therapist_row(world)

    response = _remove(client, world.client, member_id=row.pk, reason="Moved to another clinic.")

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.ended_at is not None and row.ended_reason == "Moved to another clinic."
    event = AuditEvent.objects.get(action="care_team.remove")
    assert (event.target_id, event.client_id) == (row.pk, world.client.pk)


def test_a_removal_without_a_reason_names_the_reason_field_and_keeps_the_row(client, world):
    sign_in(client, world.admin.user)
    row = _therapist_row(world)

    for reason in ("", "   "):
        response = _remove(client, world.client, member_id=row.pk, reason=reason)
        assert response.status_code == 422
        assert "reason" in response.context["remove_form"].errors

    row.refresh_from_db()
    assert row.ended_at is None
    assert _events("care_team.remove") == 0


def test_a_row_of_another_client_or_one_already_ended_is_not_found(client, world):
    sign_in(client, world.admin.user)
    unreferred_row = CareTeamMember.objects.get(client=world.unreferred)
    other_row = CareTeamMember.objects.get(client=world.other_client)

    assert _remove(client, world.client, member_id=unreferred_row.pk, reason="x").status_code == 404
    assert _remove(client, world.client, member_id=other_row.pk, reason="x").status_code == 404
    row = _therapist_row(world)
    assert _remove(client, world.client, member_id=row.pk, reason="Left.").status_code == 302
    assert _remove(client, world.client, member_id=row.pk, reason="Again.").status_code == 404

    assert CareTeamMember.objects.get(pk=unreferred_row.pk).ended_at is None
    assert CareTeamMember.objects.get(pk=other_row.pk).ended_at is None
    assert _events("care_team.remove") == 1


def test_another_practices_admin_cannot_remove_and_the_probe_is_recorded(client, world):
    sign_in(client, world.other_admin.user)
    row = _therapist_row(world)

    assert _remove(client, world.client, member_id=row.pk, reason="x").status_code == 404

    assert CareTeamMember.objects.get(pk=row.pk).ended_at is None
    probe = AuditEvent.objects.get(action="access.denied")
    assert probe.record_organisation_id == world.practice.pk
