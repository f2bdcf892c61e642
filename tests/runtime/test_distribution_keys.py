"""Every table's distribution key, for a move to Citus by organisation (decision 0044,
docs/deploy.md "Scaling out").

A tenant table carries the organisation that holds its rows (`organisation_id`, the practice
for a client's record, even when a partner's prescriber wrote the row), directly or, for a
few child tables, through a documented parent whose rows carry it. The rest are reference
tables, the same for every organisation: people and their credentials, the organisations
and partnerships themselves, platform plumbing. A new model must be one of the three: a
model with an `organisation` foreign key passes as it is, anything else must be listed here.
"""

from django.apps import apps

DIRECT = "organisation_id"
REFERENCE = "reference"

# Child tables: the foreign key whose row carries the organisation (followed until one does).
VIA_PARENT = {
    "accounts.MembershipRole": "membership",
    "accounts.ApiToken": "membership",
    "assessments.ResponseLink": "assignment",
    "scheduling.CalendarFeed": "membership",
    "scheduling.ReminderSent": "appointment",
    "encounters.GroupSession_clinicians": "groupsession",
}

# The same for every organisation (Citus reference tables, or the coordinator's own), and why.
REFERENCE_TABLES = {
    "accounts.Organisation": "the tenants themselves; every tenant row points at one",
    "accounts.Partnership": "a practice and a partner: a row between two tenants",
    "accounts.User": "a person may work for several organisations",
    "accounts.User_groups": "Django's groups of a user (unused by kapflow's roles)",
    "accounts.User_user_permissions": "Django's permissions of a user (platform staff)",
    "accounts.ClinicianLicence": "a clinician's licence, whoever they work for",
    "accounts.TrainingCertificate": "a clinician's certificate, whoever they work for",
    "accounts.AuthenticatorDevice": "a person's MFA device",
    "accounts.RecoveryCodeDevice": "a person's recovery codes",
    "accounts.RecoveryCode": "a person's recovery codes",
    "core.IdempotencyRecord": "claimed keys of a caller, purged after a day",
    "audit.AuditCheck": "a run of the whole trail's verification",
    "outbox.OutboxMessage": "e-mail kept for one recipient in demo and test runs",
    "runtime.Heartbeat": "a worker process",
    "runtime.JobRun": "a periodic job's claim, one per period for the whole platform",
}

# Every model of kapflow's apps today and its key (new models with an `organisation` foreign
# key are accepted without being listed, see test_every_model_has_a_distribution_key).
DISTRIBUTION_KEYS = {
    **dict.fromkeys(
        [
            "accounts.Invitation",
            "accounts.Membership",
            "alerts.Alert",
            "amendments.AmendmentRequest",
            "assessments.Assignment",
            "assessments.MeasurementPlan",
            "assessments.Response",
            "assessments.UrgentTask",
            "audit.AuditEvent",
            "audit.Disclosure",
            "consents.ConsentDocument",
            "consents.ConsentSignature",
            "consents.ConsentWithdrawal",
            "courses.Course",
            "courses.CourseEvent",
            "courses.DueItem",
            "courses.GateSettings",
            "courses.OverrideDecision",
            "encounters.ChecklistResponse",
            "encounters.DischargeRecord",
            "encounters.DosingSession",
            "encounters.GroupAttendee",
            "encounters.GroupSession",
            "encounters.SessionSettings",
            "encounters.TimelineEntry",
            "journal.JournalEntry",
            "messaging.Attachment",
            "messaging.Message",
            "messaging.MessageReceipt",
            "messaging.Thread",
            "messaging.ThreadParticipant",
            "notes.Addendum",
            "notes.Note",
            "notes.Supervision",
            "patients.CareTeamMember",
            "patients.Client",
            "patients.Companion",
            "patients.CompanionCheckin",
            "patients.EmergencyAccess",
            "prescriptions.Dispense",
            "prescriptions.DoseAuthorisation",
            "prescriptions.DoseUse",
            "prescriptions.EligibilityDecision",
            "prescriptions.MedicalEvaluation",
            "prescriptions.Prescription",
            "prescriptions.Referral",
            "prescriptions.RefillRequest",
            "scheduling.Appointment",
            "scheduling.AppointmentParticipant",
            "scheduling.AppointmentSeries",
            "scheduling.AvailabilityException",
            "scheduling.AvailabilityRule",
            "scheduling.Room",
            "scheduling.SchedulingSettings",
        ],
        DIRECT,
    ),
    **{label: f"{DIRECT} via {field}" for label, field in VIA_PARENT.items()},
    **dict.fromkeys(REFERENCE_TABLES, REFERENCE),
}


def kapflow_models():
    """kapflow's models, and the many-to-many tables Django makes for them."""
    for model in apps.get_models(include_auto_created=True):
        owner = model._meta.auto_created or model
        if owner.__module__.startswith("kapflow.") and model._meta.managed:
            yield model


def organisation_field(model):
    for field in model._meta.concrete_fields:
        if field.name == "organisation" and field.is_relation:
            return field
    return None


def distribution_key(model) -> str:
    """What the model's rows say about their organisation."""
    label = model._meta.label
    if label in REFERENCE_TABLES:
        return REFERENCE
    if organisation_field(model) is not None:
        return DIRECT
    if label in VIA_PARENT:
        return f"{DIRECT} via {VIA_PARENT[label]}"
    return "none"


def test_every_model_has_a_distribution_key():
    found = {m._meta.label: distribution_key(m) for m in kapflow_models()}
    missing = sorted(label for label, key in found.items() if key == "none")
    assert not missing, (
        f"tenant tables without an organisation (add it, or list a parent): {missing}"
    )
    listed = {label: key for label, key in found.items() if label in DISTRIBUTION_KEYS}
    assert listed == {label: DISTRIBUTION_KEYS[label] for label in listed}
    unlisted = {label: key for label, key in found.items() if label not in DISTRIBUTION_KEYS}
    assert set(unlisted.values()) <= {DIRECT}, unlisted
    gone = sorted(set(DISTRIBUTION_KEYS) - set(found))
    assert not gone, f"listed models that no longer exist: {gone}"


def test_every_parent_leads_to_an_organisation():
    for label, field_name in VIA_PARENT.items():
        model = apps.get_model(label)
        seen = [label]
        while organisation_field(model) is None:
            field = model._meta.get_field(field_name)
            assert field.is_relation and not field.null, f"{label}: {field_name} may be empty"
            model = field.related_model
            seen.append(model._meta.label)
            field_name = VIA_PARENT.get(model._meta.label, "")
            assert len(seen) < 5, seen
        assert organisation_field(model).related_model._meta.label == "accounts.Organisation"


def test_tenant_rows_always_name_their_organisation():
    """Citus needs a value in the distribution column. Only the audit trail may leave it
    empty (system events: a scheduled scan has no acting organisation); moving it means
    keying those to a platform organisation first (docs/deploy.md)."""
    nullable = sorted(
        m._meta.label
        for m in kapflow_models()
        if (f := organisation_field(m)) is not None and f.null
    )
    assert nullable == ["audit.AuditEvent"]
