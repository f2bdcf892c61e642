"""After each signature the client goes straight on to the next form waiting (issue 17):
four forms are four signatures, with no trip back to the list between them."""

import pytest

from kapflow.consents.models import ConsentSignature
from kapflow.core import clock
from tests.conftest import sign_in
from tests.consents.factories import current


def _sign_form(world):
    return {
        "understood": "on",
        "typed_name": f"{world.client.legal_first_name} {world.client.legal_last_name}",
        "signed_on": clock.clinical_date(world.practice).isoformat(),
    }


@pytest.fixture
def four(world):
    return [current(world.practice, kind) for kind in
            ("kap", "telehealth", "release_of_information", "financial_policy")]  # fmt: skip


def test_each_signature_leads_to_the_next_form_then_to_what_was_signed(client, world, four):
    sign_in(client, world.client_member.user)
    url = f"/consents/mine/{four[0].pk}/sign/"
    visited = []
    for _ in four:
        response = client.post(url, _sign_form(world))
        assert response.status_code == 302
        visited.append(response.url)
        url = response.url
    signatures = list(ConsentSignature.objects.filter(client=world.client).order_by("pk"))
    assert [s.document_id for s in signatures] == [d.pk for d in four]
    assert visited[:3] == [f"/consents/mine/{d.pk}/sign/" for d in four[1:]]
    assert visited[3] == f"/consents/mine/signed/{signatures[-1].pk}/"
    page = client.get(visited[3]).content.decode()
    assert "Every consent form is signed; your care team can see it." in page


def test_the_next_form_is_named_with_how_many_are_left(client, world, four):
    sign_in(client, world.client_member.user)
    response = client.post(f"/consents/mine/{four[0].pk}/sign/", _sign_form(world), follow=True)
    page = response.content.decode()
    assert f"3 more forms to sign: {four[1].title} is next." in page
    assert f"<h1>{four[1].title}</h1>" in page


def test_a_refused_signature_stays_on_its_form(client, world, four):
    sign_in(client, world.client_member.user)
    response = client.post(
        f"/consents/mine/{four[0].pk}/sign/", _sign_form(world) | {"understood": ""}
    )
    assert response.status_code == 422
    assert not ConsentSignature.objects.exists()


def test_the_course_page_shows_the_signature_without_reloading_tricks(client, world, four):
    """The team sees the client's signature on the course page's consent table."""
    from tests.courses.factories import make_course

    course = make_course(world.client, world.therapist, stage="eligible")
    sign_in(client, world.client_member.user)
    client.post(f"/consents/mine/{four[0].pk}/sign/", _sign_form(world))
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    assert '<tr data-kind="kap">' in page
    row = page.split('<tr data-kind="kap">')[1].split("</tr>")[0]
    assert 'data-state="signed"' in row
