"""The client's 'Who saw your information' page (decision 0037): the accounting of
disclosures, then every access in words, never action codes, in a fixed number of queries."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.audit.actions import ACTIONS
from kapflow.audit.services import audit_record, disclosure_record
from kapflow.core import clock
from tests.conftest import sign_in
from tests.pdftext import pdf_readable

URL = "/me/access-report/"
CODE = re.compile(r"\b[a-z_]+\.[a-z_]+\b")


def _read_by_partner(world, times=1):
    for _ in range(times):
        audit_record(
            actor=world.prescriber, action="client.view", target=world.client,
            client_id=world.client.pk,
        )  # fmt: skip


def _section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : page.index("</table>", start)]


def test_the_client_sees_words_not_codes(client, world):
    sign_in(client, world.therapist.user)
    client.get(f"/clients/{world.client.pk}/")
    for action in ("care_team.view", "note.list", "course.view", "dosing_session.poll"):
        audit_record(
            actor=world.therapist, action=action, target=world.client, client_id=world.client.pk
        )
    sign_in(client, world.client_member.user)
    page = client.get(URL).content.decode()
    rows = _section(page, "access-list")
    assert "Opened your record" in rows and "Looked at your care team" in rows
    assert "Followed your dosing session live" in rows
    for code in ("client.view", "care_team.view", "note.list", "course.view"):
        assert code not in page
    assert not [c for c in CODE.findall(rows) if c in ACTIONS]


def test_disclosures_to_the_partner_show_recipient_purpose_and_what(client, world):
    sign_in(client, world.prescriber.user)
    client.get(f"/clients/{world.client.pk}/")
    sign_in(client, world.client_member.user)
    page = client.get(URL).content.decode()
    table = _section(page, "disclosures")
    assert f"{world.prescriber.user.full_name} (prescriber) at Partner P" in table
    assert "<td>Treatment" in table
    assert "Your record: name, date of birth" in table
    assert "America/Los_Angeles" in table  # the client's zone (an OR practice)


def test_a_disclosure_staff_recorded_shows_with_its_legal_basis(client, world):
    disclosure_record(
        actor=world.biller, client_id=world.client.pk,
        data={"disclosed_on": clock.clinical_date(world.practice), "purpose": "payment",
              "recipient": "Cascade Health Insurance", "what": "Dates of service",
              "legal_basis": "Payment, 164.506(c)"},
    )  # fmt: skip
    sign_in(client, world.client_member.user)
    table = _section(client.get(URL).content.decode(), "disclosures")
    assert "Cascade Health Insurance" in table and "Legal basis: Payment, 164.506(c)" in table
    assert "recorded by the practice" in table


def test_the_page_costs_the_same_queries_for_one_line_and_for_thirty(
    client, world, django_assert_num_queries
):
    from kapflow.patients.models import Companion

    sign_in(client, world.client_member.user)
    _read_by_partner(world)
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL).status_code == 200
    companion = Companion.objects.get(client=world.client)
    for n in range(30):
        _read_by_partner(world)
        audit_record(
            actor=world.companion, action="companion.view", target=companion,
            client_id=world.client.pk,
        )  # fmt: skip
        audit_record(
            actor=world.therapist, action="note.view", target=world.client,
            client_id=world.client.pk,
        )  # fmt: skip
        disclosure_record(
            actor=world.admin, client_id=world.client.pk,
            data={"disclosed_on": clock.clinical_date(world.practice), "purpose": "payment",
                  "recipient": f"Insurer {n}", "what": "Dates", "legal_basis": "Payment"},
        )  # fmt: skip
    with django_assert_num_queries(len(small)):
        page = client.get(URL)
    assert page.status_code == 200
    assert page.content.decode().count('data-source="recorded"') == 30


def test_only_the_client_sees_their_report(client, world):
    for who in ("companion", "therapist", "prescriber"):
        sign_in(client, getattr(world, who).user)
        assert client.get(URL).status_code == 404
        assert client.get(URL + "disclosures.pdf").status_code == 404


def test_the_client_downloads_the_accounting_with_its_digest(client, world):
    _read_by_partner(world)
    sign_in(client, world.client_member.user)
    got = client.get(URL + "disclosures.pdf")
    assert got.status_code == 200 and got["Repr-Digest"].startswith("sha-256=:")
    text = pdf_readable(got.content)
    assert f"{world.prescriber.user.full_name} (prescriber) at Partner P" in text
    assert "Purpose Treatment" in text
