"""Consent services: publish, sign, withdraw; every refusal names its field or code and
leaves nothing half-saved; the request's metadata is kept; records are immutable on
PostgreSQL."""

import base64
import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from kapflow.consents import services
from kapflow.consents.models import (
    DRAWN_SIGNATURE_MAX_CHARS,
    ConsentDocument,
    ConsentSignature,
    ConsentWithdrawal,
    body_sha256,
)
from kapflow.core import clock
from kapflow.core.context import RequestMeta, reset_request_meta, set_request_meta
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.courses.models import CourseEvent
from tests.accounts.factories import member
from tests.consents.factories import current, publish, sign, withdraw
from tests.courses.factories import make_course

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()


def _rows():
    return (
        ConsentDocument.objects.count(),
        ConsentSignature.objects.count(),
        ConsentWithdrawal.objects.count(),
        CourseEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def _sign(world, document=None, **overrides):
    values = {
        "actor": world.client_member,
        "document_id": (document or current(world.practice, "kap")).pk,
        "typed_name": f"{world.client.legal_first_name} {world.client.legal_last_name}",
        "signed_on": clock.clinical_date(world.practice),
        "understood": True,
    }
    return services.consent_sign(**(values | overrides))


# ---- publish --------------------------------------------------------------------------------


def test_publish_makes_the_next_version_and_is_audited(world):
    first = services.document_publish(
        actor=world.admin, kind="kap", title="KAP consent", body="Version one text."
    )
    second = services.document_publish(
        actor=world.admin, kind="kap", title="KAP consent", body="Version two text.",
        change_summary="Clarified the touch policy.",
    )  # fmt: skip
    telehealth = services.document_publish(
        actor=world.admin, kind="telehealth", title="Telehealth", body="At home."
    )
    assert (first.version, second.version, telehealth.version) == (1, 2, 1)
    assert second.published_by == world.admin.user and second.organisation == world.practice
    assert AuditEvent.objects.filter(action="consent_document.publish").count() == 3


def test_publish_names_each_missing_field_and_saves_nothing(world):
    before = _rows()
    with pytest.raises(ValidationError) as exc:
        services.document_publish(actor=world.admin, kind="nonsense", title=" ", body="")
    assert set(exc.value.message_dict) == {"kind", "title", "body"}
    assert _rows() == before


@pytest.mark.parametrize(
    ("role", "error"),
    [("therapist", PermissionDenied), ("biller", PermissionDenied), ("client_member", NotFound),
     ("companion", NotFound), ("prescriber", NotFound)],
)  # fmt: skip
def test_only_practice_admins_publish(world, role, error):
    with pytest.raises(error):
        services.document_publish(
            actor=getattr(world, role), kind="kap", title="KAP consent", body="Text."
        )
    assert not ConsentDocument.objects.exists()


# ---- sign -----------------------------------------------------------------------------------


def test_client_signs_the_current_version_with_the_request_metadata(world):
    make_course(world.client, world.therapist, prescriber=world.prescriber, stage="eligible")
    document = current(world.practice, "kap")
    token = set_request_meta(
        RequestMeta(request_id="req-123", ip_address="203.0.113.9", user_agent="Firefox/140")
    )
    try:
        signature = _sign(world, document, drawn_signature=PNG)
    finally:
        reset_request_meta(token)
    assert signature.document == document and signature.client == world.client
    assert signature.signed_by == world.client_member.user and signature.sequence == 1
    assert (signature.ip_address, signature.user_agent, signature.request_id) == (
        "203.0.113.9",
        "Firefox/140",
        "req-123",
    )
    assert signature.content_sha256 == body_sha256(document.body)
    assert signature.drawn_signature == PNG
    assert signature.signed_on == clock.clinical_date(world.practice)
    audit = AuditEvent.objects.get(action="consent.sign")
    assert (audit.target_id, audit.client_id) == (signature.pk, world.client.pk)
    # The open course's timeline shows it.
    event = CourseEvent.objects.get(kind="consent_signed")
    assert event.data["signature_id"] == signature.pk and event.data["version"] == 1


def test_typed_name_matches_legal_or_preferred_name_ignoring_case(world):
    world.client.legal_first_name, world.client.legal_last_name = "Robin", "Ashdown"
    world.client.preferred_name = "Bee"
    world.client.save()
    assert _sign(world, typed_name="  robin   ASHDOWN ")
    telehealth = current(world.practice, "telehealth")
    assert _sign(world, telehealth, typed_name="Bee Ashdown")


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"typed_name": "Someone Else"}, {"typed_name"}),
        ({"typed_name": "   "}, {"typed_name"}),
        ({"understood": False}, {"understood"}),
        ({"signed_on": None}, {"signed_on"}),
        ({"drawn_signature": "data:image/jpeg;base64,AAAA"}, {"drawn_signature"}),
        ({"drawn_signature": "data:image/png;base64,not base64!"}, {"drawn_signature"}),
        ({"drawn_signature": "data:image/png;base64," + base64.b64encode(b"GIF89a").decode()},
         {"drawn_signature"}),
        ({"drawn_signature": "data:image/png;base64," + "A" * DRAWN_SIGNATURE_MAX_CHARS},
         {"drawn_signature"}),
        ({"typed_name": "Nobody", "understood": False}, {"typed_name", "understood"}),
    ],
)  # fmt: skip
def test_sign_names_each_field_at_fault_and_saves_nothing(world, overrides, fields):
    document = current(world.practice, "kap")
    before = _rows()
    with pytest.raises(ValidationError) as exc:
        _sign(world, document, **overrides)
    assert set(exc.value.message_dict) == fields
    assert _rows() == before


@pytest.mark.parametrize("days", [-1, 1])
def test_the_date_must_be_today(world, days):
    document = current(world.practice, "kap")
    before = _rows()
    with pytest.raises(ValidationError) as exc:
        _sign(
            world,
            document,
            signed_on=clock.clinical_date(world.practice) + datetime.timedelta(days=days),
        )
    assert set(exc.value.message_dict) == {"signed_on"}
    assert _rows() == before


def test_an_earlier_version_cannot_be_signed(world):
    old = current(world.practice, "kap")
    publish(world.practice, "kap", published_at=timezone.now() - datetime.timedelta(minutes=1))
    before = _rows()
    with pytest.raises(DomainError) as exc:
        _sign(world, old)
    assert exc.value.code == "consent.not_current"
    assert _rows() == before


def test_a_version_not_yet_published_cannot_be_signed(world):
    current(world.practice, "kap")
    future = publish(
        world.practice, "kap", published_at=timezone.now() + datetime.timedelta(days=1)
    )
    with pytest.raises(DomainError) as exc:
        _sign(world, future)
    assert exc.value.code == "consent.not_current"
    assert not ConsentSignature.objects.exists()


def test_one_signature_per_version_then_again_after_a_withdrawal(world):
    first = _sign(world)
    with pytest.raises(DomainError) as exc:
        _sign(world)
    assert exc.value.code == "consent.already_signed"
    services.consent_withdraw(actor=world.client_member, signature_id=first.pk)
    again = _sign(world)
    assert (first.sequence, again.sequence) == (1, 2)
    assert again.document == first.document


def test_a_new_version_needs_a_new_signature(world):
    first = _sign(world)
    new = publish(world.practice, "kap", published_at=timezone.now())
    second = _sign(world, new)
    assert (first.document.version, second.document.version) == (1, 2)


def test_other_practices_documents_are_not_found(world):
    theirs = current(world.other, "kap")
    with pytest.raises(NotFound):
        _sign(world, theirs)


@pytest.mark.parametrize("role", ["companion", "biller", "therapist", "admin"])
def test_only_the_client_signs(world, role):
    with pytest.raises(NotFound):
        _sign(world, actor=getattr(world, role))
    assert not ConsentSignature.objects.exists()


def test_a_client_sign_in_without_a_record_is_not_found(world):
    stranger = member(world.practice, Role.CLIENT)
    with pytest.raises(NotFound):
        _sign(world, actor=stranger)


# ---- withdraw -------------------------------------------------------------------------------


def test_client_withdraws_their_own_consent(world):
    make_course(world.client, world.therapist, prescriber=world.prescriber, stage="eligible")
    signature = _sign(world)
    withdrawal = services.consent_withdraw(actor=world.client_member, signature_id=signature.pk)
    assert withdrawal.withdrawn_by == world.client_member.user and not withdrawal.on_behalf
    assert AuditEvent.objects.filter(action="consent.withdraw", client_id=world.client.pk).exists()
    assert CourseEvent.objects.filter(kind="consent_withdrawn").count() == 1
    with pytest.raises(DomainError) as exc:
        services.consent_withdraw(actor=world.client_member, signature_id=signature.pk)
    assert exc.value.code == "consent.already_withdrawn"


def test_clinician_withdraws_on_behalf_with_a_written_reason(world):
    signature = sign(world.client, "kap")
    before = _rows()
    with pytest.raises(ValidationError) as exc:
        services.consent_withdraw(actor=world.therapist, signature_id=signature.pk, reason=" ")
    assert set(exc.value.message_dict) == {"reason"}
    assert _rows() == before
    withdrawal = services.consent_withdraw(
        actor=world.prescriber, signature_id=signature.pk, reason="Told me by phone today."
    )
    assert withdrawal.on_behalf and withdrawal.withdrawn_by == world.prescriber.user


@pytest.mark.parametrize(
    ("role", "error"),
    [("admin", PermissionDenied), ("therapist2", NotFound), ("biller", NotFound),
     ("companion", NotFound), ("other_admin", NotFound), ("other_therapist", NotFound)],
)  # fmt: skip
def test_who_may_withdraw_on_behalf(world, role, error):
    signature = sign(world.client, "kap")
    with pytest.raises(error):
        services.consent_withdraw(
            actor=getattr(world, role), signature_id=signature.pk, reason="Asked to stop."
        )
    assert not ConsentWithdrawal.objects.exists()


def test_a_client_cannot_withdraw_someone_elses_signature(world):
    other = sign(world.unreferred, "kap")
    with pytest.raises(NotFound):
        services.consent_withdraw(actor=world.client_member, signature_id=other.pk)


def test_only_the_latest_signature_of_a_kind_is_withdrawn(world):
    old = _sign(world)
    new = publish(world.practice, "kap", published_at=timezone.now())
    _sign(world, new)
    with pytest.raises(DomainError) as exc:
        services.consent_withdraw(actor=world.client_member, signature_id=old.pk)
    assert exc.value.code == "consent.superseded"
    assert not ConsentWithdrawal.objects.exists()


def test_withdrawing_an_earlier_withdrawn_signature_is_refused(world):
    signature = sign(world.client, "kap")
    withdraw(signature)
    with pytest.raises(DomainError) as exc:
        services.consent_withdraw(actor=world.client_member, signature_id=signature.pk)
    assert exc.value.code == "consent.already_withdrawn"


# ---- immutability ---------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL-only")
def test_consent_records_refuse_update_and_delete(world):
    signature = sign(world.client, "kap")
    withdrawal = withdraw(signature)
    document = signature.document
    for model, pk, change in [
        (ConsentDocument, document.pk, {"body": "Edited later."}),
        (ConsentSignature, signature.pk, {"typed_name": "Someone Else"}),
        (ConsentWithdrawal, withdrawal.pk, {"reason": "Edited later."}),
    ]:
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            model.objects.filter(pk=pk).update(**change)
        # Straight SQL: the ORM's delete would stop first at the PROTECT foreign keys.
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id = %s", [pk])
    signature.refresh_from_db()
    document.refresh_from_db()
    assert signature.typed_name != "Someone Else" and document.body != "Edited later."
