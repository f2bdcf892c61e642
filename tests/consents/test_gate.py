"""The course gate reads the client's signatures: withdrawing consent, or a new version of
the consent, blocks dosing with the right reason until the client signs again; at-home
dosing needs the telehealth consent; confirming consent needs the client's signature."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapflow.clinical.course import DoseDay
from kapflow.clinical.overrides import Justification
from kapflow.consents import services as consent_services
from kapflow.core import clock
from kapflow.core.errors import GateBlocked
from kapflow.courses import selectors
from kapflow.courses import services as course_services
from kapflow.courses.models import Course, CourseEvent
from kapflow.prescriptions.models import DoseUse
from tests.consents.factories import current, publish, sign
from tests.courses.factories import event, make_course
from tests.patients.factories import ClientFactory, on_team

GOOD_DAY = DoseDay(
    bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
    companion_present=True,
)  # fmt: skip


def _ready(world, **fields):
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="active", **fields
    )
    event(course, world.therapist, "risk_screen", positive=False)
    return course


def _blockers(course):
    """What the dashboard shows as blocking the course, read afresh through with_facts."""
    loaded = selectors.course_get_for_actor(
        actor=course.therapist, course_id=course.pk, audit_action=""
    )
    return [r.code for r in selectors.course_row(loaded, now=timezone.now()).blockers]


def _dose(world, course, overrides=None):
    return course_services.dosing_start(
        actor=world.therapist, course_id=course.pk, day=GOOD_DAY, overrides=overrides
    )


def _client_signs(world, kind="kap"):
    return consent_services.consent_sign(
        actor=world.client_member, document_id=current(world.practice, kind).pk,
        typed_name=f"{world.client.legal_first_name} {world.client.legal_last_name}",
        signed_on=clock.clinical_date(world.practice), understood=True,
    )  # fmt: skip


def _codes(exc):
    return sorted(r.code for r in exc.value.reasons)


def test_a_ready_course_doses(world):
    course = _ready(world)
    assert _blockers(course) == []
    _dose(world, course)
    assert DoseUse.objects.filter(course=course).count() == 1


def test_withdrawing_consent_blocks_dosing_until_the_client_signs_again(world):
    course = _ready(world)
    signature = world.client.consent_signatures.get(document__kind="kap")
    consent_services.consent_withdraw(actor=world.client_member, signature_id=signature.pk)

    assert _blockers(course) == ["consent.withdrawn"]
    with pytest.raises(GateBlocked) as exc:
        _dose(
            world,
            course,
            overrides={
                "consent.withdrawn": Justification(
                    "verified_other_means", "The client says they are fine to go ahead."
                )
            },
        )
    assert _codes(exc) == ["consent.withdrawn"]
    assert not exc.value.reasons[0].overridable
    assert not DoseUse.objects.filter(course=course).exists()
    assert CourseEvent.objects.filter(course=course, kind="consent_withdrawn").exists()

    _client_signs(world)
    assert _blockers(course) == []
    _dose(world, course)


def test_withdrawal_on_the_clients_behalf_blocks_too(world):
    course = _ready(world)
    signature = world.client.consent_signatures.get(document__kind="kap")
    consent_services.consent_withdraw(
        actor=world.therapist, signature_id=signature.pk, reason="Phoned to stop treatment."
    )
    assert _blockers(course) == ["consent.withdrawn"]


def test_a_new_version_blocks_dosing_as_outdated_until_signed(world):
    course = _ready(world)
    publish(world.practice, "kap", published_at=timezone.now() - datetime.timedelta(seconds=1))

    assert _blockers(course) == ["consent.outdated"]
    with pytest.raises(GateBlocked) as exc:
        _dose(world, course)
    (reason,) = exc.value.reasons
    assert reason.code == "consent.outdated" and not reason.overridable
    assert reason.message == (
        "A new version of the consent was published; the client must sign it again."
    )

    _client_signs(world)
    assert _blockers(course) == []
    _dose(world, course)


def test_a_version_published_for_later_does_not_block_yet(world):
    course = _ready(world)
    publish(world.practice, "kap", published_at=timezone.now() + datetime.timedelta(days=3))
    assert _blockers(course) == []


def test_another_kind_or_another_practice_publishing_does_not_block(world):
    course = _ready(world)
    publish(world.practice, "financial_policy")
    publish(world.other, "kap", published_at=timezone.now() - datetime.timedelta(seconds=1))
    assert _blockers(course) == []


def test_at_home_dosing_needs_the_current_telehealth_consent(world):
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="active",
        delivery="at_home", consent=False,
    )  # fmt: skip
    event(course, world.therapist, "risk_screen", positive=False)
    sign(world.client, "kap")
    assert "consent.telehealth_missing" in _blockers(course)
    telehealth = _client_signs(world, "telehealth")
    assert "consent.telehealth_missing" not in _blockers(course)
    consent_services.consent_withdraw(actor=world.client_member, signature_id=telehealth.pk)
    assert "consent.telehealth_missing" in _blockers(course)


def test_confirming_consent_needs_the_clients_signature(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible")  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        course_services.course_transition(
            actor=world.therapist, course_id=course.pk, action="record_consent"
        )
    assert _codes(exc) == ["consent.missing"]
    assert Course.objects.get(pk=course.pk).stage == "eligible"

    signature = _client_signs(world)
    course_services.course_transition(
        actor=world.therapist, course_id=course.pk, action="record_consent"
    )
    confirmed = CourseEvent.objects.get(course=course, action="record_consent")
    assert confirmed.data["consent_version"] == signature.document.version
    assert Course.objects.get(pk=course.pk).stage == "consented"


def test_course_facts_cost_the_same_queries_for_1_and_20_courses(world):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            rows = [selectors.course_facts(c) for c in selectors.with_facts(Course.objects.all())]
        return len(ctx.captured_queries), rows

    _ready(world)
    one, _ = count()
    for n in range(19):
        client = ClientFactory(organisation=world.practice)
        on_team(client, world.therapist)
        make_course(client, world.therapist, prescriber=world.prescriber, stage="active",
                    consent=["withdrawn", "outdated", True][n % 3])  # fmt: skip
    many, rows = count()
    assert one == many == 1
    assert any(f.consent_withdrawn for f in rows) and any(f.consent_outdated for f in rows)
