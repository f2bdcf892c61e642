"""Directory pages: public ones without sign-in (and only what is published), the
pre-screen (crisis first, nothing stored), the request form, the e-mailed link, and the
practice's pages with their permissions."""

import json
import re

import pytest
from django.core import mail
from django.test import TestCase

from kapflow.audit.models import AuditEvent
from kapflow.directory import selectors, services
from kapflow.directory.models import Inquiry
from tests.conftest import sign_in
from tests.directory.factories import hours, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(world, frozen):
    hours(world.therapist)
    hours(world.prescriber)
    return publish(world)[1]


def test_public_pages_need_no_sign_in(client, card):
    assert client.get("/find/").status_code == 200
    page = client.get("/find/", {"mode": "near", "zip_code": "97214", "radius": 25})
    assert page.status_code == 200 and b"Avery Example" in page.content
    assert b'content="index, follow"' in page.content
    practice = client.get(f"/find/practice/{card.practice.slug}/")
    assert practice.status_code == 200
    clinician = client.get(f"/find/clinician/{card.slug}/")
    assert clinician.status_code == 200
    ld = re.search(rb'<script type="application/ld\+json">(.*?)</script>', clinician.content, re.S)
    data = json.loads(ld.group(1))
    assert data["@type"] == "Physician" and data["areaServed"] == [{"@type": "State", "name": "OR"}]
    ld = re.search(rb'<script type="application/ld\+json">(.*?)</script>', practice.content, re.S)
    assert json.loads(ld.group(1))["@type"] == "MedicalClinic"
    assert b"Joint:" in clinician.content


def test_bio_cannot_break_out_of_the_json_ld(client, card, world):
    services.clinician_profile_save(
        actor=world.admin, membership_id=world.therapist.pk, data={"bio": "</script><b>x"}
    )
    page = client.get(f"/find/clinician/{card.slug}/")
    assert b"</script><b>" not in page.content


def test_unpublished_profile_is_404(client, card, world):
    services.clinician_profile_save(
        actor=world.admin, membership_id=world.therapist.pk, data={"published": False}
    )
    assert client.get(f"/find/clinician/{card.slug}/").status_code == 404
    services.practice_profile_save(actor=world.admin, data={"published": False})
    assert client.get(f"/find/practice/{card.practice.slug}/").status_code == 404


def test_bad_search_input_names_the_field_never_500(client, card):
    page = client.get("/find/", {"mode": "near", "zip_code": "12"})
    assert page.status_code == 200 and b"5-digit" in page.content
    page = client.get("/find/", {"mode": "online", "state": "ZZ", "price_max": "lots", "page": "x"})
    assert page.status_code == 200


PRESCREEN = {
    "age": "35", "state": "OR", "pregnancy": "no", "in_therapy": "yes", "psychosis": "no",
    "mania": "no", "heart": "no", "blood_pressure": "no", "substance": "no", "self_harm": "no",
}  # fmt: skip


def test_prescreen_crisis_shows_988_and_no_pitch(client, card):
    before = AuditEvent.objects.count(), Inquiry.objects.count()
    page = client.post("/screen/", PRESCREEN | {"self_harm": "yes"})
    text = page.content.decode()
    assert "tel:988" in text and "911" in text
    assert "Request a free consultation" not in text and "Find a clinician" not in text
    assert (AuditEvent.objects.count(), Inquiry.objects.count()) == before  # nothing stored


def test_prescreen_guidance_carries_to_the_request(client, card):
    page = client.post(f"/screen/?for={card.slug}", PRESCREEN | {"medicines": ["maoi"]})
    text = page.content.decode()
    assert "Talk to a clinician" in text and "not a diagnosis" in text
    link = re.search(r'href="(/find/clinician/[^"]+/\?prescreen=[^"]+)"', text).group(1)
    profile = client.get(link.replace("&amp;", "&")).content.decode()
    assert "pre-screen result will be attached" in profile
    joint = re.search(r'href="([^"]+joint=1[^"]+prescreen=[^"]+)"', profile).group(1)
    form = client.get(joint.replace("&amp;", "&"))
    assert b"pre-screen result will be attached" in form.content
    forged = client.get(f"/find/clinician/{card.slug}/?prescreen=forged")
    assert b"will be attached" not in forged.content


def test_request_form_and_link(client, card, world):
    slot = selectors.slots_for(card).joint[0]
    url = f"/find/clinician/{card.slug}/request/"
    data = {
        "first_name": "Robin", "last_name": "Example", "email": "robin@example.test",
        "date_of_birth": "1980-05-01", "client_state": "OR", "slot": slot.starts_at.isoformat(),
        "joint": "True", "website": "",
    }  # fmt: skip
    bad = client.post(url, data | {"email": "x"})
    assert bad.status_code == 200 and b"e-mail" in bad.content.lower()
    with TestCase.captureOnCommitCallbacks(execute=True):
        sent = client.post(url, data)
    assert sent.status_code == 302
    inquiry = Inquiry.objects.get()
    assert inquiry.prescriber_id == world.prescriber.pk
    link = next(w for w in mail.outbox[-1].body.split() if "/consultation/" in w)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200 and b"Robin" not in page.content
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post("/" + path, {"action": "confirm"})
    inquiry.refresh_from_db()
    assert inquiry.status == "confirmed" and inquiry.course_id
    assert client.get("/consultation/nonsense/").status_code == 404


def test_staff_pages_and_permissions(client, card, world):
    sign_in(client, world.admin.user)
    assert client.get("/directory/").status_code == 200
    assert client.get(f"/directory/clinicians/{world.therapist.pk}/").status_code == 200
    assert client.get("/directory/inquiries/").status_code == 200
    assert client.get("/directory/funnel/").status_code == 200
    saved = client.post(
        f"/directory/clinicians/{world.therapist.pk}/",
        {"display_name": "Avery E.", "price_min": "10", "price_max": "5", "published": "on"},
    )
    assert saved.status_code == 200 and b"at least the lowest" in saved.content
    client.logout()
    sign_in(client, world.biller.user)
    for url in ("/directory/", "/directory/inquiries/", "/directory/funnel/"):
        assert client.get(url).status_code == 404
    client.logout()
    sign_in(client, world.other_admin.user)
    assert client.get(f"/directory/clinicians/{world.therapist.pk}/").status_code == 404


@pytest.mark.parametrize(
    "given,kept", [("clinic-site", "clinic-site"), ("<script>", "directory"), ("", "directory")]
)
def test_source_link_reaches_the_funnel(client, card, given, kept):
    data = {
        "first_name": "Robin", "last_name": "Example", "email": "robin@example.test",
        "date_of_birth": "1980-05-01", "client_state": "OR", "website": "",
    }  # fmt: skip
    url = f"/find/clinician/{card.slug}/request/?source={given}"
    assert client.post(url, data).status_code == 302
    assert Inquiry.objects.get().source == kept
