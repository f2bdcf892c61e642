"""Alert write paths: a client or their companion reports a reaction or presses "need help
now"; a clinician on the care team acknowledges it.

The severity comes from kapflow.clinical.reactions. Raising an alert, in one transaction:
checks who is reporting (kapflow.policy.alert_raiser_role), attaches the client's open
course, saves, audits; after commit a task e-mails every clinician on the care team a link,
never the answers, the note or the client's name.
"""

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.alerts.models import NOTE_MAX, Alert, AlertKind
from kapflow.alerts.selectors import client_for_reporter
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import reactions
from kapflow.core.errors import DomainError, PermissionDenied
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)

ANSWER_KEYS = frozenset({"symptoms", "bp_systolic", "bp_diastolic"})
MAX_SYMPTOMS = 40
# A second press of "need help now" by the same person this soon after the first, while it
# is still open, is the same call for help: it is not raised (or e-mailed) twice.
HELP_NOW_REPEAT = timedelta(minutes=2)


def _text(value, field: str, *, required: bool = False, message: str = "") -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: "Send text."})
    value = value.strip()
    if "\x00" in value:
        # PostgreSQL cannot store a NUL character in text.
        raise ValidationError({field: "The text contains a character that cannot be saved."})
    if required and not value:
        raise ValidationError({field: message or "This field is required."})
    if len(value) > NOTE_MAX:
        # A TextField's max_length binds forms only; full_clean does not check it.
        raise ValidationError({field: f"Keep it under {NOTE_MAX:,} characters."})
    return value


def _reading(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: "Enter the number from the monitor."})
    return value


def _reaction_answers(answers) -> reactions.ReactionAnswers:
    """The checklist answers, or every problem named by its field."""
    if not isinstance(answers, dict):
        raise ValidationError({"answers": "Send the answers as an object."})
    if set(answers) - ANSWER_KEYS:
        raise ValidationError({"answers": "Send only symptoms, bp_systolic and bp_diastolic."})
    symptoms = answers.get("symptoms") or []
    if (
        not isinstance(symptoms, list | tuple)
        or len(symptoms) > MAX_SYMPTOMS
        or not all(isinstance(s, str) for s in symptoms)
    ):
        raise ValidationError({"symptoms": "Choose symptoms from the list."})
    parsed = reactions.ReactionAnswers(
        symptoms=frozenset(symptoms),
        bp_systolic=_reading(answers.get("bp_systolic"), "bp_systolic"),
        bp_diastolic=_reading(answers.get("bp_diastolic"), "bp_diastolic"),
    )
    problems = reactions.check_answers(parsed)
    if problems:
        errors: dict[str, list[str]] = {}
        for p in problems:
            errors.setdefault(p.field, []).append(p.message)
        raise ValidationError(errors)
    return parsed


def _open_course_id(client: Client) -> int | None:
    from kapflow.courses.models import Course

    return (
        Course.objects.for_org(client.organisation_id)
        .filter(client=client, closed_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )


@transaction.atomic
def alert_raise(
    *,
    actor: Membership,
    client_id: int,
    kind: str,
    answers: dict,
    note: str = "",
    now: datetime | None = None,
) -> Alert:
    """The client (for themself) or one of their companions reports a reaction or asks for
    help now. Anyone else is told "not found". The care team is e-mailed after commit."""
    now = now or timezone.now()
    client, role = client_for_reporter(actor=actor, client_id=client_id)
    # One report at a time per client: a double press of "need help now" sees the first.
    Client.objects.select_for_update().filter(pk=client.pk).first()
    if kind not in AlertKind.values:
        raise ValidationError({"kind": "Choose a reaction report or need help now."})
    note = _text(note, "note")
    if kind == AlertKind.REACTION:
        parsed = _reaction_answers(answers)
        if not parsed.symptoms and parsed.bp_systolic is None and not note:
            raise ValidationError(
                {"symptoms": "Tick what is happening, or describe it in your own words."}
            )
        triage = reactions.reaction_triage(parsed)
        stored = {
            "symptoms": [s.code for s in reactions.SYMPTOMS if s.code in parsed.symptoms],
            "bp_systolic": parsed.bp_systolic,
            "bp_diastolic": parsed.bp_diastolic,
        }
    else:
        if answers:
            raise ValidationError({"answers": "Need help now takes no answers."})
        repeat = (
            Alert.objects.for_org(client.organisation_id)
            .filter(
                client=client,
                kind=AlertKind.HELP_NOW,
                raised_by_id=actor.user_id,
                acknowledged_at__isnull=True,
                raised_at__gte=now - HELP_NOW_REPEAT,
            )
            .order_by("-raised_at")
            .first()
        )
        if repeat is not None:
            logger.warning("alert.help_now_repeated", extra={"alert_id": repeat.pk})
            return repeat
        triage = reactions.help_now_triage()
        stored = {}
    alert = Alert(
        organisation_id=client.organisation_id, client=client, course_id=_open_course_id(client),
        kind=kind, raised_by_id=actor.user_id, raised_by_role=role, raised_at=now,
        answers=stored, note=note, severity=triage.severity.value, reasons=triage.codes,
    )  # fmt: skip
    alert.full_clean()
    alert.save()
    audit_record(actor=actor, action="alert.raise", target=alert, client_id=client.pk)
    from kapflow.notifications.services import notify
    from kapflow.patients.selectors import care_team_memberships

    # The care team sees it in the app at once, beside the e-mail (decision 0050).
    notify(
        recipients=care_team_memberships(client_id=client.pk), kind="alert_raised",
        route="alerts:detail", object_id=alert.pk, exclude_user_id=actor.user_id,
    )  # fmt: skip
    logger.warning(
        "alert.raised", extra={"alert_id": alert.pk, "kind": kind, "severity": alert.severity}
    )
    from kapflow.alerts.tasks import alert_notify

    alert_id = alert.pk
    transaction.on_commit(lambda: alert_notify.enqueue(alert_id))
    return alert


@transaction.atomic
def alert_acknowledge(
    *, actor: Membership, alert_id: int, note: str, now: datetime | None = None
) -> Alert:
    """A clinician on the client's care team records that they have picked the alert up,
    and what they did. Practice admins see alerts but are refused (403)."""
    now = now or timezone.now()
    alert = policy.alerts_queryset(actor).select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise audit_not_found(actor=actor, model=Alert, object_id=alert_id)
    if not policy.can_acknowledge_alert(actor, alert):
        raise PermissionDenied("Only the client's clinicians acknowledge alerts.")
    note = _text(note, "note", required=True, message="Say what you did, e.g. called the client.")
    if alert.acknowledged_at is not None:
        raise DomainError("This alert was already acknowledged.", code="alert.acknowledged")
    alert.acknowledged_by, alert.acknowledged_at, alert.acknowledgement_note = actor, now, note
    alert.full_clean()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgement_note"])
    audit_record(actor=actor, action="alert.acknowledge", target=alert, client_id=alert.client_id)
    logger.info("alert.acknowledged", extra={"alert_id": alert.pk})
    return alert
