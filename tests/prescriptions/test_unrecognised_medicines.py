"""Medicines not in the catalogue (issue 12, item 6; decision 0028): each is a finding named as
typed, and an eligible decision needs a tick per medicine that the prescriber reviewed it by
hand. The rule is the service's, so the page and the API refuse alike, and the ticks are kept
with the signed decision (who, when, which medicines)."""

import datetime
import json
from datetime import UTC

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services as account_services
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.courses.models import Course, CourseEvent
from kapflow.prescriptions import selectors, services
from kapflow.prescriptions.models import EligibilityDecision
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.prescriptions.factories import CLEAN_CHECKLIST, evaluate

# 18:00 UTC is 11:00 in Oregon: the same date in UTC and in the practice's zone.
NOW = datetime.datetime(2026, 6, 3, 18, 0, tzinfo=UTC)
MEDICATIONS = [
    {"name": "Kratom", "dose": "2 g most days"},
    {"name": "Nardil", "dose": "15 mg twice daily"},
    {"name": "Ashwagandha 300 mg"},
]


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def evaluation(world):
    """world.client's evaluation, complete, listing two medicines not in the catalogue."""
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="medical_evaluation"
    )
    evaluation = evaluate(course, world.prescriber, complete=False)
    services.evaluation_save(
        actor=world.prescriber, evaluation_id=evaluation.pk,
        data={"evaluated_on": clock.clinical_date(world.practice), "bp_systolic": 122,
              "bp_diastolic": 78, "pregnancy": "not_applicable", "ongoing_therapy": True},
        medications=MEDICATIONS, checklist=CLEAN_CHECKLIST, version=evaluation.version,
    )  # fmt: skip
    evaluation.refresh_from_db()
    return evaluation


def _view(world, evaluation):
    return selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    )


def _decide(world, evaluation, **overrides):
    args = {
        "actor": world.prescriber, "evaluation_id": evaluation.pk, "decision": "eligible",
        "reason": "Benefits outweigh the risks.", "signature": world.prescriber.user.full_name,
        "clearance_valid_days": 180, "findings_digest_seen": _view(world, evaluation).digest,
    } | overrides  # fmt: skip
    return services.eligibility_decide(**args)


def _counts():
    return (
        EligibilityDecision.objects.count(),
        CourseEvent.objects.count(),
        AuditEvent.objects.exclude(action="evaluation.view").count(),
    )


# ---- the findings ------------------------------------------------------------------------


def test_each_unrecognised_medicine_is_a_finding_named_as_typed(world, evaluation):
    assert evaluation.medications[0] == {
        "name": "Kratom", "rxcui": "", "dose": "2 g most days", "daily_dose_mg": None,
    }  # fmt: skip
    findings = _view(world, evaluation).findings
    assert [(f.code, f.medication) for f in findings] == [
        ("interaction.maoi", ""),
        ("medication.unrecognised", "Ashwagandha 300 mg"),
        ("medication.unrecognised", "Kratom"),
    ]
    assert "not in the catalogue: review by hand" in findings[2].message


def test_known_spellings_are_coded_and_need_no_review(world, evaluation):
    services.evaluation_save(
        actor=world.prescriber, evaluation_id=evaluation.pk, data={},
        medications=[{"name": "Lithium"}, {"name": "St. John's Wort"}, {"name": "Adderall"}],
        checklist=CLEAN_CHECKLIST, version=evaluation.version,
    )  # fmt: skip
    evaluation.refresh_from_db()
    assert [(m["name"], m["rxcui"]) for m in evaluation.medications] == [
        ("lithium carbonate", "42351"),
        ("st john's wort", "258326"),
        ("Adderall", ""),  # two ingredients: kept as typed, both screened
    ]
    assert [f.code for f in _view(world, evaluation).findings] == [
        "interaction.enzyme_inducer",
        "interaction.mood_stabiliser",
        "interaction.stimulant",
    ]
    assert _decide(world, evaluation).medications_reviewed == []


# ---- the service -------------------------------------------------------------------------


def test_eligible_is_refused_without_the_ticks_and_nothing_is_saved(world, evaluation):
    before = _counts()

    with pytest.raises(ValidationError) as exc:
        _decide(world, evaluation)

    assert set(exc.value.message_dict) == {"medications_reviewed"}
    (message,) = exc.value.message_dict["medications_reviewed"]
    assert message.startswith("2 medicines not in the catalogue are not confirmed")
    assert "Kratom" not in message  # no health information in an error
    assert _counts() == before
    assert Course.objects.get(pk=evaluation.course_id).stage == "medical_evaluation"


def test_one_tick_does_not_clear_the_other_medicine(world, evaluation):
    with pytest.raises(ValidationError) as exc:
        _decide(world, evaluation, medications_reviewed=["Kratom"])
    assert exc.value.message_dict["medications_reviewed"][0].startswith("1 medicine not in")
    assert not EligibilityDecision.objects.exists()


def test_the_reason_alone_never_clears_the_review(world, evaluation):
    with pytest.raises(ValidationError) as exc:
        _decide(
            world, evaluation,
            reason="Reviewed Kratom and Ashwagandha 300 mg by hand: no interaction.",
            acknowledge_exclusions=True,
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"medications_reviewed"}
    assert not EligibilityDecision.objects.exists()


def test_a_tick_for_a_medicine_not_listed_is_refused(world, evaluation):
    with pytest.raises(ValidationError) as exc:
        _decide(
            world, evaluation, decision="needs_info",
            medications_reviewed=["Kratom", "Ashwagandha 300 mg", "aspirin"],
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"medications_reviewed"}
    assert not EligibilityDecision.objects.exists()


def test_eligible_with_every_tick_records_who_when_and_which(world, evaluation):
    record = _decide(world, evaluation, medications_reviewed=["kratom", "ASHWAGANDHA  300 mg"])

    record.refresh_from_db()
    assert record.medications_reviewed == [
        {"medication": "Ashwagandha 300 mg", "reviewed_by": world.prescriber.user_id,
         "reviewed_at": NOW.isoformat()},
        {"medication": "Kratom", "reviewed_by": world.prescriber.user_id,
         "reviewed_at": NOW.isoformat()},
    ]  # fmt: skip
    assert (record.decided_by_id, record.decided_at) == (world.prescriber.user_id, NOW)
    assert {f.get("medication") for f in record.findings} == {
        None, "Ashwagandha 300 mg", "Kratom",
    }  # fmt: skip
    assert Course.objects.get(pk=evaluation.course_id).stage == "eligible"


@pytest.mark.parametrize("decision", ["not_eligible", "needs_info"])
def test_other_decisions_do_not_need_the_ticks(world, evaluation, decision):
    assert _decide(world, evaluation, decision=decision).medications_reviewed == []


def test_needs_info_keeps_the_ticks_given(world, evaluation):
    record = _decide(world, evaluation, decision="needs_info", medications_reviewed=["Kratom"])
    assert [m["medication"] for m in record.medications_reviewed] == ["Kratom"]


# ---- the API -----------------------------------------------------------------------------

URL = "/api/v1/prescribing"


@pytest.fixture
def api(client, world):
    _, raw = account_services.api_token_create(
        actor=world.prescriber, name="tests", mfa_verified=True
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    class Api:
        def get(self, path):
            return client.get(URL + path, **headers)

        def post(self, path, body):
            return client.post(
                URL + path, data=json.dumps(body), content_type="application/json", **headers
            )

    return Api()


def _decision_body(world, evaluation_json, **changes):
    return {
        "decision": "eligible", "reason": "No contraindications found.",
        "signature": world.prescriber.user.full_name,
        "findings_digest": evaluation_json["findings_digest"], "clearance_valid_days": 180,
    } | changes  # fmt: skip


def test_api_lists_the_medicines_to_review(world, evaluation, api):
    body = api.get(f"/referrals/{evaluation.referral_id}/evaluation").json()
    assert body["medications_to_review"] == ["Ashwagandha 300 mg", "Kratom"]
    unrecognised = [f for f in body["findings"] if f["code"] == "medication.unrecognised"]
    assert [(f["severity"], f["medication"]) for f in unrecognised] == [
        ("unrecognised", "Ashwagandha 300 mg"),
        ("unrecognised", "Kratom"),
    ]


def test_api_refuses_eligible_without_the_ticks_with_422_naming_the_field(world, evaluation, api):
    path = f"/referrals/{evaluation.referral_id}"
    body = api.get(f"{path}/evaluation").json()

    refused = api.post(f"{path}/decision", _decision_body(world, body))

    assert refused.status_code == 422, refused.content
    assert [e["field"] for e in refused.json()["errors"]] == ["medications_reviewed"]
    assert not EligibilityDecision.objects.exists()

    signed = api.post(
        f"{path}/decision",
        _decision_body(world, body, medications_reviewed=body["medications_to_review"]),
    )

    assert signed.status_code == 201, signed.content
    reviewed = signed.json()["medications_reviewed"]
    assert [(m["medication"], m["reviewed_by"]) for m in reviewed] == [
        ("Ashwagandha 300 mg", world.prescriber.user_id),
        ("Kratom", world.prescriber.user_id),
    ]
    assert {datetime.datetime.fromisoformat(m["reviewed_at"].replace("Z", "+00:00"))
            for m in reviewed} == {NOW}  # fmt: skip
    again = api.get(f"{path}/evaluation").json()
    assert again["decisions"][0]["medications_reviewed"] == reviewed


def test_api_rejects_a_malformed_acknowledgement(world, evaluation, api):
    path = f"/referrals/{evaluation.referral_id}"
    body = api.get(f"{path}/evaluation").json()
    refused = api.post(
        f"{path}/decision", _decision_body(world, body, medications_reviewed="Kratom")
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"medications_reviewed"}


# ---- the page ----------------------------------------------------------------------------


def _page_url(evaluation):
    return f"/prescribing/referrals/{evaluation.referral_id}/evaluation/"


def _decision_form(world, evaluation, **changes):
    return {
        "intent": "decide", "decision": "eligible", "reason": "No contraindications.",
        "clearance_valid_days": "180", "signature": world.prescriber.user.full_name,
        "findings_digest": _view(world, evaluation).digest,
    } | changes  # fmt: skip


def test_page_shows_the_finding_and_a_checkbox_per_medicine(client, world, evaluation):
    sign_in(client, world.prescriber.user)
    page = client.get(_page_url(evaluation)).content.decode()
    assert "Not in the catalogue: review by hand (2)" in page
    assert "&quot;Kratom&quot; is not in the catalogue: review by hand." in page
    for name in ("Kratom", "Ashwagandha 300 mg"):
        assert f'name="medications_reviewed" value="{name}"' in page
        assert f"{name}: reviewed by hand" in page


def test_page_refuses_eligible_without_the_ticks_beside_the_field(client, world, evaluation):
    sign_in(client, world.prescriber.user)
    response = client.post(_page_url(evaluation), _decision_form(world, evaluation))
    assert response.status_code == 422
    page = response.content.decode()
    assert (
        "Medicines not in the catalogue: tick each one you reviewed by hand: 2 medicines not in "
        "the catalogue are not confirmed as reviewed by hand."
    ) in page
    assert not EligibilityDecision.objects.exists()


def test_page_signs_with_every_tick_and_shows_them(client, world, evaluation):
    sign_in(client, world.prescriber.user)
    form = _decision_form(world, evaluation, medications_reviewed=["Kratom", "Ashwagandha 300 mg"])
    response = client.post(_page_url(evaluation), form)
    assert response.status_code == 302
    record = EligibilityDecision.objects.get()
    assert [m["medication"] for m in record.medications_reviewed] == [
        "Ashwagandha 300 mg",
        "Kratom",
    ]
    page = client.get(_page_url(evaluation)).content.decode()
    assert "reviewed by hand by the signer:</strong> Ashwagandha 300 mg; Kratom" in page
