"""The client create, edit and portal-invite pages (issue 20): who is turned away, a bad
input named by its field with nothing saved, and the audit row each writes."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from kapflow.audit.models import AuditEvent
from kapflow.patients.models import Client
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

NEW = {
    "legal_first_name": "Robin",
    "legal_last_name": "Example",
    "date_of_birth": "1990-02-03",
    "state": "OR",
}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_an_admin_creates_a_client_and_lands_on_the_record(client, world):
    sign_in(client, world.admin.user)
    before = Client.objects.count()

    response = client.post(reverse("patients:create"), NEW)

    created = Client.objects.get(legal_first_name="Robin", organisation=world.practice)
    assert Client.objects.count() == before + 1
    assert response.status_code == 302
    assert response["Location"] == created.get_absolute_url()
    assert _messages(response) == ["Client created."]


def test_a_birth_date_in_the_future_is_named_and_nothing_is_created(client, world):
    sign_in(client, world.admin.user)
    before = Client.objects.count()

    response = client.post(reverse("patients:create"), {**NEW, "date_of_birth": "2999-01-01"})

    assert response.status_code == 200
    assert "date_of_birth" in response.context["form"].errors
    assert Client.objects.count() == before


def test_asking_for_an_invite_without_an_e_mail_creates_the_client_only(client, world):
    sign_in(client, world.admin.user)

    response = client.post(reverse("patients:create"), {**NEW, "invite": "on"})

    assert response.status_code == 302
    assert _messages(response) == ["Client created."]
    assert Client.objects.get(legal_first_name="Robin").user_id is None


@pytest.mark.parametrize("who", ["biller", "client_member"])
def test_who_may_not_create_a_client_gets_404(client, world, who):
    sign_in(client, getattr(world, who).user)
    before = Client.objects.count()
    assert client.post(reverse("patients:create"), NEW).status_code == 404
    assert Client.objects.count() == before


def test_the_edit_page_records_the_view_and_the_change(client, world):
    sign_in(client, world.therapist.user)
    url = reverse("patients:edit", args=[world.client.pk])

    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(action="client.view", client_id=world.client.pk).count() == 1
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    response = client.post(url, {**data, "preferred_name": "Robbie"})

    assert response.status_code == 302
    assert Client.objects.get(pk=world.client.pk).preferred_name == "Robbie"
    event = AuditEvent.objects.get(action="client.update")
    assert "preferred_name" in event.changed_fields


@pytest.mark.parametrize(("who", "status"), [("other_admin", 404), ("biller", 403)])
def test_the_edit_page_refuses_who_may_not_edit(client, world, who, status):
    sign_in(client, getattr(world, who).user)
    url = reverse("patients:edit", args=[world.client.pk])
    name = world.client.legal_last_name

    assert client.post(url, {**NEW, "legal_last_name": "Changed"}).status_code == status

    assert Client.objects.get(pk=world.client.pk).legal_last_name == name


def test_a_portal_invite_without_an_e_mail_says_so(client, world):
    Client.objects.filter(pk=world.unreferred.pk).update(email="")
    sign_in(client, world.admin.user)

    response = client.post(reverse("patients:portal_invite", args=[world.unreferred.pk]))

    assert response.status_code == 302
    assert _messages(response) == ["Add the client's e-mail address to their record first."]
    assert AuditEvent.objects.filter(action__startswith="portal.").count() == 0


def test_a_portal_invite_for_a_client_who_has_an_account_is_refused(client, world):
    sign_in(client, world.admin.user)
    response = client.post(reverse("patients:portal_invite", args=[world.client.pk]))
    assert _messages(response) == ["The client already has a portal account."]


@pytest.mark.parametrize(("who", "status"), [("other_admin", 404), ("biller", 403)])
def test_a_portal_invite_refuses_who_may_not_invite(client, world, who, status):
    sign_in(client, getattr(world, who).user)
    response = client.post(reverse("patients:portal_invite", args=[world.unreferred.pk]))
    assert response.status_code == status


def test_the_emergency_page_is_not_found_for_an_admin(client, world):
    sign_in(client, world.admin.user)
    assert client.get(reverse("patients:emergency_access")).status_code == 404


def test_the_search_as_you_type_returns_only_the_results(client, world):
    sign_in(client, world.admin.user)
    response = client.post(
        reverse("patients:list"),
        {"q": world.client.legal_last_name},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="client-results",
    )
    assert response.status_code == 200
    names = {t.name for t in response.templates}
    assert "patients/_client_results.html" in names
    assert "patients/client_list.html" not in names
