"""The accounting of disclosures (HIPAA 164.528, ONC 170.315(d)(11); decision 0037): what
kapflow derives from the audit trail, what staff record by hand, the staff page and its PDF."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts.models import Role
from kapflow.accounts.services import api_token_create
from kapflow.audit.accounting import (
    COMPANION_PURPOSE,
    INVITE_PURPOSE,
    RECORDS_PURPOSE,
    REFERRAL_PURPOSE,
    TREATMENT,
    client_accounting,
)
from kapflow.audit.models import AuditEvent, Disclosure
from kapflow.audit.services import audit_record, disclosure_record
from kapflow.core import clock
from kapflow.patients.models import Companion
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.notes.factories import signed
from tests.pdftext import pdf_readable
from tests.prescriptions.factories import refer

ZONE = "America/Los_Angeles"


def lines(world, zone=ZONE):
    return client_accounting(client=world.client, zone_name=zone).lines


def valid(**changes) -> dict:
    data = {
        "disclosed_on": clock.clinical_date(None) - dt.timedelta(days=3),
        "recipient": "Claims department, Cascade Health Insurance",
        "recipient_address": "PO Box 100, Portland OR",
        "purpose": "payment",
        "purpose_detail": "",
        "what": "Dates of service and diagnosis codes for March",
        "legal_basis": "Payment (164.506(c)); the client's insurance agreement",
    }
    data.update(changes)
    return data


# ---- from the audit trail -------------------------------------------------------------------


def test_the_partners_reads_are_disclosures_with_recipient_and_purpose(client, world):
    world.prescriber.title = "PMHNP"
    world.prescriber.save()
    sign_in(client, world.therapist.user)
    client.get(f"/clients/{world.client.pk}/")  # the practice's own read: not a disclosure
    sign_in(client, world.prescriber.user)
    assert client.get(f"/clients/{world.client.pk}/").status_code == 200
    [line] = lines(world)
    name = world.prescriber.user.full_name
    assert line.recipient == f"{name}, PMHNP (prescriber) at Partner P"
    assert line.purpose == TREATMENT
    assert line.what.startswith("Your record: name, date of birth")
    assert line.source == "kapflow" and line.times == 1
    assert line.first_at.tzinfo is not None and str(line.first_at.tzinfo) == ZONE


def test_repeated_reads_of_one_record_on_one_day_are_one_line_with_a_count(client, world):
    sign_in(client, world.prescriber.user)
    for _ in range(3):
        client.get(f"/clients/{world.client.pk}/")
    [line] = lines(world)
    assert line.times == 3 and line.first_at <= line.last_at


def test_the_referral_sent_to_the_partner_is_a_disclosure(world):
    from kapflow.prescriptions.services import referral_send

    course = make_course(world.client, world.therapist, stage="intake")
    referral_send(
        actor=world.therapist, course_id=course.pk, prescriber_id=world.prescriber.pk,
        reason="Treatment-resistant depression.", diagnoses=["F33.2"], share_scores=True,
        consent_to_share=True, consent_note="Signed release on file.",
    )  # fmt: skip
    [line] = [line for line in lines(world) if line.purpose == REFERRAL_PURPOSE]
    assert line.recipient == f"{world.prescriber.user.full_name} at Partner P"
    assert "reason for referral, diagnoses" in line.what
    assert "recent questionnaire scores" in line.what
    assert world.therapist.user.full_name in line.what  # who sent it


def test_a_referral_to_a_prescriber_of_the_practice_itself_is_not_listed(world):
    own = member(world.practice, Role.PRESCRIBER, licences=[("MD", "OR")])
    course = make_course(world.client, world.therapist, stage="intake")
    referral = refer(course, own, status="sent")
    audit_record(
        actor=world.therapist, action="referral.send", target=referral,
        client_id=world.client.pk,
    )  # fmt: skip
    assert lines(world) == []


def test_reads_through_the_api_by_a_partner_token_say_so(client, world):
    _token, raw = api_token_create(actor=world.prescriber, name="EHR", mfa_verified=True)
    got = client.get(f"/api/v1/clients/{world.client.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert got.status_code == 200
    [line] = lines(world)
    assert line.recipient.endswith("at Partner P, through kapflow's API")
    assert line.purpose == TREATMENT


def test_what_the_companion_sees_is_a_disclosure_to_the_companion(client, world):
    companion = Companion.objects.get(client=world.client)
    sign_in(client, world.companion.user)
    assert client.get(f"/me/companions/{companion.pk}/").status_code == 200
    [line] = lines(world)
    assert line.recipient == f"Your companion, {world.companion.user.full_name}"
    assert line.purpose == COMPANION_PURPOSE
    assert "safety sheet" in line.what


def test_the_companion_invitation_is_listed_as_sent_at_the_clients_request(world):
    audit_record(
        actor=world.client_member, action="companion.invite", target=world.client,
        client_id=world.client.pk,
    )  # fmt: skip
    [line] = lines(world)
    assert line.purpose == INVITE_PURPOSE
    assert "does not name you" in line.what


def test_a_records_request_pdf_is_one_line_per_file(client, world):
    signed(world.client, world.therapist)
    signed(world.client, world.therapist)
    sign_in(client, world.admin.user)
    assert client.get(f"/notes/clients/{world.client.pk}/records.pdf").status_code == 200
    assert AuditEvent.objects.filter(action="note.export", client_id=world.client.pk).count() == 2
    [line] = lines(world)
    assert line.purpose == RECORDS_PURPOSE
    assert line.what == "2 signed clinical notes, in one PDF"
    assert world.admin.user.full_name in line.recipient


def test_the_client_and_the_practice_reading_are_not_disclosures(client, world):
    sign_in(client, world.client_member.user)
    client.get("/")
    sign_in(client, world.admin.user)
    client.get(f"/clients/{world.client.pk}/")
    assert lines(world) == []


def test_disclosures_older_than_six_years_are_left_out(world, time_machine):
    time_machine.move_to(dt.datetime(2019, 5, 1, 18, tzinfo=dt.UTC), tick=False)
    audit_record(
        actor=world.prescriber, action="client.view", target=world.client,
        client_id=world.client.pk,
    )  # fmt: skip
    time_machine.move_to(dt.datetime(2025, 4, 30, 18, tzinfo=dt.UTC), tick=False)
    assert len(lines(world)) == 1
    time_machine.move_to(dt.datetime(2025, 5, 2, 18, tzinfo=dt.UTC), tick=False)
    assert lines(world) == []


def test_the_day_is_the_viewers(world, time_machine):
    # 03:30 UTC on 2 March is still 1 March in Los Angeles.
    time_machine.move_to(dt.datetime(2026, 3, 2, 3, 30, tzinfo=dt.UTC), tick=False)
    audit_record(
        actor=world.prescriber, action="client.view", target=world.client,
        client_id=world.client.pk,
    )  # fmt: skip
    assert lines(world, "America/Los_Angeles")[0].on == dt.date(2026, 3, 1)
    assert lines(world, "UTC")[0].on == dt.date(2026, 3, 2)


# ---- recorded by staff ----------------------------------------------------------------------


def test_staff_record_a_disclosure_made_outside_kapflow(world):
    disclosure = disclosure_record(actor=world.biller, client_id=world.client.pk, data=valid())
    assert disclosure.organisation == world.practice
    assert AuditEvent.objects.filter(
        action="disclosure.record", target_id=disclosure.pk, client_id=world.client.pk
    ).exists()
    [line] = lines(world)
    assert (line.recipient, line.purpose, line.source) == (
        "Claims department, Cascade Health Insurance", "Payment", "recorded",
    )  # fmt: skip
    assert line.legal_basis.startswith("Payment (164.506(c))")
    assert line.recorded_by == world.biller.user.full_name


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipient": "  "}, "recipient"),
        ({"what": ""}, "what"),
        ({"legal_basis": ""}, "legal_basis"),
        ({"purpose": "gossip"}, "purpose"),
        ({"purpose": "other", "purpose_detail": ""}, "purpose_detail"),
        ({"disclosed_on": None}, "disclosed_on"),
        ({"disclosed_on": clock.clinical_date(None) + dt.timedelta(days=2)}, "disclosed_on"),
        ({"recipient": "x" * 201}, "recipient"),
    ],
)
def test_a_bad_disclosure_is_refused_naming_the_field_and_nothing_is_saved(world, changes, field):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        disclosure_record(actor=world.admin, client_id=world.client.pk, data=valid(**changes))
    assert field in refused.value.message_dict
    assert Disclosure.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_another_purpose_is_listed_in_its_own_words(world):
    disclosure_record(
        actor=world.admin, client_id=world.client.pk,
        data=valid(purpose="other", purpose_detail="A subpoena in a custody case",
                   recipient="Multnomah County Circuit Court", legal_basis="Subpoena 24-118"),
    )  # fmt: skip
    [line] = lines(world)
    assert line.purpose == "A subpoena in a custody case"


@pytest.mark.parametrize("who", ["prescriber", "other_admin", "other_therapist"])
def test_only_the_practice_holding_the_record_keeps_its_accounting(world, who):
    from kapflow.core.errors import NotFound

    with pytest.raises(NotFound):
        disclosure_record(actor=getattr(world, who), client_id=world.client.pk, data=valid())
    assert Disclosure.objects.count() == 0


# ---- the staff page and its PDF -------------------------------------------------------------


def test_the_staff_page_lists_the_accounting_and_records_a_disclosure(client, world):
    sign_in(client, world.prescriber.user)
    client.get(f"/clients/{world.client.pk}/")
    sign_in(client, world.therapist.user)
    url = f"/audit/clients/{world.client.pk}/disclosures/"
    page = client.get(url)
    assert page.status_code == 200
    assert "Partner P" in page.content.decode()
    done = client.post(url, {**valid(), "disclosed_on": valid()["disclosed_on"].isoformat()})
    assert done.status_code == 302
    page = client.get(url).content.decode()
    assert "Cascade Health Insurance" in page
    assert AuditEvent.objects.filter(action="disclosure.list", client_id=world.client.pk).exists()


def test_the_staff_form_names_the_field_at_fault(client, world):
    sign_in(client, world.admin.user)
    url = f"/audit/clients/{world.client.pk}/disclosures/"
    future = (clock.clinical_date(None) + dt.timedelta(days=5)).isoformat()
    got = client.post(url, {**valid(), "disclosed_on": future})
    assert got.status_code == 422
    assert "Date disclosed: The date of the disclosure cannot be in the future." in (
        got.content.decode()
    )
    got = client.post(url, {**valid(), "disclosed_on": "2026-01-02", "legal_basis": ""})
    assert got.status_code == 422
    assert "Legal basis: This field is required." in got.content.decode()
    assert Disclosure.objects.count() == 0


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 200), ("biller", 200), ("therapist", 200), ("therapist2", 404),
     ("prescriber", 404), ("other_admin", 404), ("client_member", 404), ("companion", 404)],
)  # fmt: skip
def test_who_may_open_the_staff_page(client, world, who, status):
    sign_in(client, getattr(world, who).user)
    assert client.get(f"/audit/clients/{world.client.pk}/disclosures/").status_code == status
    assert client.get(f"/audit/clients/{world.client.pk}/disclosures.pdf").status_code == status


def test_the_pdf_holds_every_line(client, world):
    sign_in(client, world.prescriber.user)
    client.get(f"/clients/{world.client.pk}/")
    disclosure_record(
        actor=world.admin, client_id=world.client.pk,
        data=valid(recipient="Oregon Health Authority", purpose="other",
                   purpose_detail="Public health reporting", what="Adverse reaction report",
                   legal_basis="ORS 433.004"),
    )  # fmt: skip
    sign_in(client, world.admin.user)
    got = client.get(f"/audit/clients/{world.client.pk}/disclosures.pdf")
    assert got["Content-Type"] == "application/pdf"
    text = pdf_readable(got.content)
    assert "Accounting of disclosures" in text
    assert f"{world.client.legal_first_name} {world.client.legal_last_name}" in text
    assert f"{world.prescriber.user.full_name} (prescriber) at Partner P" in text
    assert "Purpose Treatment" in text
    assert "Your record: name, date of birth" in text
    assert "Oregon Health Authority" in text and "Public health reporting" in text
    assert "Legal basis ORS 433.004" in text
    assert "recorded by staff" in text
