"""Data entered once flows on (issue 17): the referral's medicines and history start the
evaluation, a signed eligible decision leads straight to a prefilled prescription, the
signing rule is explained where it applies, and a fill picked up at the clinic is received
without a shipping date."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from kapflow.courses.models import Course
from kapflow.prescriptions import selectors, services
from kapflow.prescriptions.models import Dispense, EligibilityDecision, MedicalEvaluation
from tests.accounts.factories import practice_today
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.prescriptions.factories import evaluate, prescribe

TODAY = practice_today
DAY = datetime.timedelta(days=1)


def _text(response) -> str:
    return response.content.decode()


# ---- the signing rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "matches"),
    [
        ("Dr. Sam Whitfield", True),
        ("Sam Whitfield", True),  # the title may be left out
        ("dr sam   WHITFIELD ", True),  # case and spaces
        ("Doctor Sam Whitfield", True),
        ("Sam Whitfeld", False),  # a different spelling is a different name
        ("Whitfield", False),
        ("S. Whitfield", False),
        ("Dr.", False),
        ("", False),
    ],
)
def test_a_signature_is_the_registered_name_up_to_case_spaces_and_title(typed, matches):
    assert services.signature_matches(typed, "Dr. Sam Whitfield") is matches


def test_a_registered_name_without_title_refuses_nothing_but_the_name():
    assert services.signature_matches("Dr. Ana Ruiz", "Ana Ruiz")
    assert not services.signature_matches("Ana", "Ana Ruiz")


@pytest.fixture
def evaluating(world):
    """world.client's course at medical evaluation, complete and clean."""
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="medical_evaluation"
    )
    return evaluate(course, world.prescriber)


def _decide(world, evaluation, **changes):
    digest = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    ).digest
    args = {
        "actor": world.prescriber, "evaluation_id": evaluation.pk, "decision": "eligible",
        "reason": "No contraindications.", "signature": world.prescriber.user.full_name,
        "findings_digest_seen": digest, "clearance_valid_days": 180,
    }  # fmt: skip
    return services.eligibility_decide(**(args | changes))


def test_a_signature_without_the_title_signs_and_is_stored_as_typed(world, evaluating):
    user = world.prescriber.user
    user.full_name = "Dr. Sam Whitfield"
    user.save(update_fields=["full_name"])
    decision = _decide(world, evaluating, signature="  sam whitfield ")
    assert decision.signature == "sam whitfield"


def test_a_wrong_signature_names_the_field_and_the_expected_name(world, evaluating):
    user = world.prescriber.user
    user.full_name = "Dr. Sam Whitfield"
    user.save(update_fields=["full_name"])
    with pytest.raises(ValidationError) as exc:
        _decide(world, evaluating, signature="Sam Whitfeld")
    assert exc.value.message_dict == {
        "signature": [
            "Type your full name as registered on your account: “Dr. Sam Whitfield”. Capital "
            "letters, spacing and a title such as “Dr.” may differ; nothing else."
        ]
    }
    assert not EligibilityDecision.objects.exists()
    assert Course.objects.get(pk=evaluating.course_id).stage == "medical_evaluation"


def test_the_decision_form_shows_the_expected_signature(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"))
    name = world.prescriber.user.full_name
    assert f"Sign: type your full name as registered: {name}" in page


# ---- referral → evaluation ----------------------------------------------------------------


def _send(world, course, **overrides):
    args = {
        "actor": world.therapist, "course_id": course.pk, "prescriber_id": world.prescriber.pk,
        "reason": "Recurrent depression after two medication trials.", "diagnoses": ["F33.1"],
        "medications": "Sertraline 100 mg daily; Lamotrigine 200 mg\nFish oil 1 g",
        "history": "Two antidepressant trials without remission. No psychosis.",
        "consent_to_share": True, "consent_note": "Signed release of information on file.",
    }  # fmt: skip
    return services.referral_send(**(args | overrides))


@pytest.fixture
def sent(world):
    return _send(world, make_course(world.unreferred, world.therapist, stage="intake"))


def test_accepting_starts_the_evaluation_from_the_referral(world, sent):
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    evaluation = MedicalEvaluation.objects.get(referral=sent)
    assert evaluation.history == "Two antidepressant trials without remission. No psychosis."
    assert [(m["name"], m["rxcui"] != "", m["dose"]) for m in evaluation.medications] == [
        ("sertraline", True, "100 mg daily"),
        ("lamotrigine", True, "200 mg"),
        ("Fish oil", False, "1 g"),  # not in the catalogue: kept as typed, reviewed by hand
    ]


def test_a_referral_without_medicines_starts_an_empty_evaluation(world):
    referral = _send(
        world, make_course(world.unreferred, world.therapist, stage="intake"),
        medications="", history="",
    )  # fmt: skip
    services.referral_accept(actor=world.prescriber, referral_id=referral.pk)
    evaluation = MedicalEvaluation.objects.get(referral=referral)
    assert (evaluation.history, evaluation.medications) == ("", [])


def test_the_evaluation_page_shows_the_referrals_medicines_in_the_form(client, world, sent):
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/referrals/{sent.pk}/evaluation/"))
    assert 'data-testid="prefilled-note"' in page
    assert 'name="med_0_name" id="id_med_0_name" value="sertraline"' in page
    assert 'name="med_2_name" id="id_med_2_name" value="Fish oil"' in page
    assert "Two antidepressant trials without remission." in page


def test_medicine_rows_grow_with_a_long_referral_list(client, world):
    names = "\n".join(f"Tincture {chr(65 + i)} {i + 1} mg" for i in range(11))
    referral = _send(
        world, make_course(world.unreferred, world.therapist, stage="intake"), medications=names
    )
    services.referral_accept(actor=world.prescriber, referral_id=referral.pk)
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/referrals/{referral.pk}/evaluation/"))
    # All eleven are in the form (none silently dropped), with two empty rows to add more.
    assert 'value="Tincture K"' in page and 'name="med_12_name"' in page
    assert 'name="med_13_name"' not in page


# ---- evaluation → prescription ------------------------------------------------------------


def _decision_post(world, evaluation, **changes):
    digest = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    ).digest
    data = {
        "intent": "decide", "decision": "eligible", "reason": "No contraindications.",
        "clearance_valid_days": "180", "signature": world.prescriber.user.full_name,
        "findings_digest": digest,
    }  # fmt: skip
    return data | changes


def test_signing_eligible_goes_straight_on_to_the_prescription(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    response = client.post(url, _decision_post(world, evaluating))
    assert response.status_code == 302
    assert response["Location"] == f"/prescribing/courses/{evaluating.course_id}/prescribe/"
    page = _text(client.get(response["Location"]))
    assert 'data-testid="prescribe-decision"' in page and "eligible" in page
    # Higher-dose, in person: per session, a rapid-dissolve tablet of the first strength.
    assert '<option value="per_session" selected>' in page
    assert '<option value="ketamine_sl_rdt" selected>' in page
    assert 'name="strength_mg" value="50"' in page
    # The evaluation page, read again, offers the way on while nothing is prescribed.
    assert 'data-testid="continue-prescription"' in _text(client.get(url))


def test_needs_information_stays_on_the_evaluation(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    response = client.post(url, _decision_post(world, evaluating, decision="needs_info"))
    assert response["Location"] == url


def test_the_prescription_form_remembers_the_prescribers_pharmacy_and_dea(client, world):
    other = ClientFactory(organisation=world.practice, state=world.client.state)
    on_team(other, world.therapist)
    on_team(other, world.prescriber, role="prescriber", added_by=world.therapist.user)
    earlier = make_course(other, world.therapist, prescriber=world.prescriber, stage="active")
    prescribe(earlier, world.prescriber)  # Cedar Compounding, AB1234563
    at_home = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="eligible",
        delivery="at_home", pathway="low_dose",
    )  # fmt: skip
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/courses/{at_home.pk}/prescribe/"))
    assert 'value="Cedar Compounding"' in page and 'value="AB1234563"' in page
    assert '<option value="daily" selected>' in page
    assert '<option value="ketamine_sl_lozenge" selected>' in page


def test_the_therapist_is_not_offered_the_prescription(client, world, evaluating):
    evaluating.referral.status = "evaluated"
    evaluating.referral.save(update_fields=["status"])
    from tests.prescriptions.factories import decide

    decide(evaluating)
    sign_in(client, world.therapist.user)
    page = _text(client.get(f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"))
    assert 'data-testid="continue-prescription"' not in page


# ---- a fill picked up ---------------------------------------------------------------------


@pytest.fixture
def unfilled(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active", doses=0)  # fmt: skip
    return prescribe(course, world.prescriber, doses=0, refills=1, quantity=2)


def _fill(world, prescription, **overrides):
    args = {"quantity": 2, "dispensed_on": TODAY()} | overrides
    return services.dispense_record(actor=world.prescriber, prescription_id=prescription.pk, **args)


def test_a_fill_picked_up_is_received_without_a_shipping_date(world, unfilled):
    fill = _fill(world, unfilled, handover="pickup", received_on=TODAY())
    fill.refresh_from_db()
    assert (fill.handover, fill.shipped_on, fill.received_on) == ("pickup", None, TODAY())


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"handover": "pickup", "shipped_on": 0}, "shipped_on", "A fill picked up is not shipped"),
        ({"handover": "pickup", "tracking": "1Z9"}, "tracking", "no tracking number"),
        ({"handover": "pickup", "received_on": -1}, "received_on", "before dispensing"),
        ({"received_on": 0}, "received_on", "choose picked up if the client collected it"),
        ({"handover": "drone"}, "handover", "Choose shipped or picked up."),
    ],
)
def test_a_bad_handover_names_the_field(world, unfilled, changes, field, says):
    args = {k: TODAY() + v * DAY if k.endswith("_on") else v for k, v in changes.items()}
    with pytest.raises(ValidationError) as exc:
        _fill(world, unfilled, **args)
    assert says in exc.value.message_dict[field][0]
    assert not Dispense.objects.exists()


def test_the_pick_up_is_recorded_later_with_its_date_only(client, world, unfilled):
    fill = _fill(world, unfilled, handover="pickup")
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/prescriptions/{unfilled.pk}/fills/{fill.pk}/ship/"
    refused = client.post(url, {"handover": "pickup"})
    assert refused.status_code == 422
    assert "Picked up on: This field is required." in _text(refused)
    response = client.post(url, {"handover": "pickup", "received_on": TODAY().isoformat()})
    assert response.status_code == 302
    fill.refresh_from_db()
    assert (fill.shipped_on, fill.received_on) == (None, TODAY())


def test_a_pick_up_cannot_be_given_a_shipping_date_later(world, unfilled):
    fill = _fill(world, unfilled, handover="pickup")
    with pytest.raises(ValidationError) as exc:
        services.dispense_ship(actor=world.prescriber, dispense_id=fill.pk, shipped_on=TODAY(),
                               received_on=TODAY())  # fmt: skip
    assert set(exc.value.message_dict) == {"shipped_on"}
    fill.refresh_from_db()
    assert fill.shipped_on is None and fill.received_on is None


def test_a_pick_up_fill_is_recorded_from_the_page(client, world, unfilled):
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/prescriptions/{unfilled.pk}/"))
    assert "Picked up at the clinic or pharmacy" in page
    response = client.post(
        f"/prescribing/prescriptions/{unfilled.pk}/fills/",
        {"quantity": "2", "dispensed_on": TODAY().isoformat(), "handover": "pickup",
         "received_on": TODAY().isoformat()},
    )  # fmt: skip
    assert response.status_code == 302
    page = _text(client.get(response["Location"]))
    assert 'data-handover="pickup"' in page and "picked up, not shipped" in page


def test_the_api_records_a_pick_up(client, world, unfilled):
    import json

    from kapflow.accounts import services as account_services

    _, raw = account_services.api_token_create(
        actor=world.prescriber, name="tests", mfa_verified=True
    )

    def post(body):
        return client.post(
            f"/api/v1/prescribing/prescriptions/{unfilled.pk}/fills", data=json.dumps(body),
            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
        )  # fmt: skip

    day = TODAY().isoformat()
    refused = post({"quantity": 2, "dispensed_on": day, "received_on": day})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["received_on"]
    response = post({"quantity": 2, "dispensed_on": day, "handover": "pickup", "received_on": day})
    assert response.status_code == 201, response.content
    assert response.json()["dispenses"][0]["handover"] == "pickup"
