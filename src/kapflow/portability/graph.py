"""Which rows make up one practice: the model graph walked from the organisation.

A tenant table's rows belong to the practice when their `organisation` is the practice (the
distribution keys of decision 0044, tests/runtime/test_distribution_keys.py). A few child
tables carry it through a parent (CHILDREN); a person's sign-in secrets and password follow
the person when they hold a membership of the practice itself (PERSONAL), their licences and
certificates when they hold any exported membership (PROFESSIONAL). The partnerships naming
the practice come too. Then every foreign key of every chosen row is followed until nothing
new turns up (the closure): a partner's prescriber and their membership, the partner
organisation, the people who wrote a row, so the archive loads into an empty install with
every reference intact. A person of another organisation (the partner's prescriber, someone
who appears in the practice's audit trail) arrives without a password or devices
(NO_SIGN_IN).

Content types and permissions go whole (`migrate` writes them; import replaces the
target's, whose ids other rows may name). Every other table is listed in LEFT_OUT with the
reason; a test fails when a new model is none of these, so a new table is a decision.

Reads only; nothing here writes.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.apps import apps

CHUNK = 500

# Child tables without an `organisation`: the foreign key whose row carries it.
CHILDREN = {
    "accounts.MembershipRole": "membership",
    "accounts.ApiToken": "membership",
    "assessments.ResponseLink": "assignment",
    "scheduling.CalendarFeed": "membership",
    "scheduling.ReminderSent": "appointment",
    "encounters.GroupSession_clinicians": "groupsession",
    "accounts.RecoveryCode": "device",
    "auth.Group_permissions": "group",
}

# A person's own rows, exported for the people who hold an exported membership.
PERSONAL = {
    "accounts.AuthenticatorDevice": "user",
    "accounts.RecoveryCodeDevice": "user",
    "accounts.User_groups": "user",
    "accounts.User_user_permissions": "user",
}
# A clinician's licences and certificates follow every exported membership, the partner's
# prescriber's too (the licensure checks read them); sign-in secrets (PERSONAL) and the
# password only a membership of the practice itself: the practice's export must not carry
# another organisation's staff credentials.
PROFESSIONAL = {
    "accounts.ClinicianLicence": "user",
    "accounts.TrainingCertificate": "user",
}

# Exported whole: written by `migrate`, replaced on import.
WHOLE = ("contenttypes.ContentType", "auth.Permission")

# Rows reached only through a foreign key (never a starting point).
BY_REFERENCE = {
    "accounts.Organisation": "the practice, and the organisations its rows name",
    "accounts.User": "the people the practice's rows name",
    "auth.Group": "groups named by an exported person's group rows",
}

# Tables whose rows are not the practice's, and why.
LEFT_OUT = {
    "admin.LogEntry": "Django admin's log of platform staff",
    "axes.AccessAttempt": "sign-in throttling state of this install",
    "axes.AccessAttemptExpiration": "sign-in throttling state of this install",
    "axes.AccessFailureLog": "sign-in throttling state of this install",
    "axes.AccessLog": "sign-in throttling state of this install",
    "sessions.Session": "signed-in browsers of this install",
    "django_tasks_database.DBTaskResult": "this install's task queue",
    "otp_static.StaticDevice": "empty since accounts/0008 (decision 0034)",
    "otp_static.StaticToken": "empty since accounts/0008 (decision 0034)",
    "otp_totp.TOTPDevice": "empty since accounts/0008 (decision 0034)",
    "core.IdempotencyRecord": "claimed request keys, purged after a day",
    "audit.AuditCheck": "runs of this install's chain check (the import's target verifies anew)",
    "outbox.OutboxMessage": "demo and test mail of this install",
    "runtime.Heartbeat": "this install's worker processes",
    "runtime.JobRun": "this install's periodic job claims",
}

# Besides its own organisation's rows, the trail the practice sees holds events about its
# records written by others (audit.selectors: `record_organisation`).
ALSO_OWNED_BY = {"audit.AuditEvent": ("record_organisation",)}

# Foreign keys from Partnership naming the practice on either side.
PARTNERSHIP = ("accounts.Partnership", ("practice", "partner"))

# Written into the archive as an unusable password for people who hold no exported
# membership ("!" starts every unusable password in Django).
NO_SIGN_IN = "!"


def exported_models() -> list:
    """Every model with a table of its own, sorted by table name (as dbcopy does)."""
    found = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy
    ]
    return sorted(found, key=lambda m: m._meta.db_table)


def organisation_field(model):
    for field in model._meta.concrete_fields:
        if field.name == "organisation" and field.is_relation:
            return field
    return None


def rule_for(model) -> str:
    """How the model's rows are chosen: direct, child, personal, whole, reference, partnership,
    left out, or "none" (a model nobody decided about; a test refuses it)."""
    label = model._meta.label
    if label in LEFT_OUT:
        return "left out"
    if label in WHOLE:
        return "whole"
    if label == PARTNERSHIP[0]:
        return "partnership"
    if organisation_field(model) is not None:
        return "direct"
    if label in CHILDREN:
        return "child"
    if label in PERSONAL or label in PROFESSIONAL:
        return "personal"
    if label in BY_REFERENCE:
        return "reference"
    return "none"


def _fks(model):
    return [
        f for f in model._meta.concrete_fields if f.is_relation and (f.many_to_one or f.one_to_one)
    ]


def _chunks(values: Iterable, size: int = CHUNK):
    values = sorted(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Selection:
    """The primary keys of the practice's rows, table by table."""

    def __init__(self, organisation) -> None:
        self.organisation = organisation
        self.pks: dict = defaultdict(set)
        self._wanted: dict = defaultdict(set)  # foreign-key targets not yet read

    def _take(self, model, rows) -> set:
        """Record (pk, fk...) rows; returns the pks that are new."""
        fks = _fks(model)
        have = self.pks[model]
        new = set()
        for row in rows:
            pk, refs = row[0], row[1:]
            if pk in have:
                continue
            have.add(pk)
            new.add(pk)
            for field, value in zip(fks, refs, strict=True):
                if value is not None:
                    self._wanted[field.related_model].add(value)
        return new

    def _read(self, model, **lookup) -> set:
        names = ["pk", *(f.attname for f in _fks(model))]
        rows = model._base_manager.filter(**lookup).values_list(*names)
        return self._take(model, rows.iterator(chunk_size=2000))

    def _read_in(self, model, field: str, values) -> set:
        new = set()
        for chunk in _chunks(values):
            new |= self._read(model, **{f"{field}__in": chunk})
        return new

    def walk(self) -> "Selection":
        org = self.organisation
        models = exported_models()
        by_label = {m._meta.label: m for m in models}
        self._read(by_label["accounts.Organisation"], pk=org.pk)
        for model in models:
            rule = rule_for(model)
            if rule == "direct":
                self._read(model, organisation_id=org.pk)
                for field in ALSO_OWNED_BY.get(model._meta.label, ()):
                    self._read(model, **{f"{field}_id": org.pk})
            elif rule == "whole":
                self._read(model)
            elif rule == "partnership":
                for field in PARTNERSHIP[1]:
                    self._read(model, **{f"{field}_id": org.pk})
        membership = by_label["accounts.Membership"]
        user = by_label["accounts.User"]
        followers = [(by_label[label], field) for label, field in CHILDREN.items()]
        personal = [(by_label[label], field) for label, field in PERSONAL.items()]
        professional = [(by_label[label], field) for label, field in PROFESSIONAL.items()]
        seen_parents: dict = defaultdict(set)
        while True:
            grew = False
            # Rows named by a foreign key and not read yet.
            for model in list(self._wanted):
                missing = self._wanted[model] - self.pks[model]
                self._wanted[model] = set()
                if missing and self._read_in(model, "pk", missing):
                    grew = True
            for model, field in followers:
                parent = model._meta.get_field(field).related_model
                fresh = self.pks[parent] - seen_parents[(model, field)]
                seen_parents[(model, field)] |= fresh
                if fresh and self._read_in(model, f"{field}_id", fresh):
                    grew = True
            own = self.member_users(membership, organisation_id=org.pk)
            members = self.member_users(membership)
            for group, people in ((personal, own), (professional, members)):
                for model, field in group:
                    fresh = people - seen_parents[(model, field)]
                    seen_parents[(model, field)] |= fresh
                    if fresh and self._read_in(model, f"{field}_id", fresh):
                        grew = True
            if not grew and not any(self._wanted[m] - self.pks[m] for m in self._wanted):
                break
        self.signing_in = self.member_users(membership, organisation_id=org.pk) & self.pks[user]
        return self

    def member_users(self, membership, organisation_id: int | None = None) -> set:
        """The people holding an exported membership (of `organisation_id` only, if given)."""
        pks = self.pks.get(membership, set())
        users = set()
        for chunk in _chunks(pks):
            rows = membership._base_manager.filter(pk__in=chunk)
            if organisation_id is not None:
                rows = rows.filter(organisation_id=organisation_id)
            users |= set(rows.values_list("user_id", flat=True))
        return users
