"""Read paths for FHIR: each resource type's rows, scoped by the same kapflow.policy querysets
the pages and the JSON API start from, with their select_related fixed so a page of any size
runs the same queries. Every read is audited here (fhir.read, fhir.search); a row outside the
actor's reach is "not found", the same answer as a missing one.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value

from kapflow import policy
from kapflow.accounts.models import (
    CLINICIAN_ROLES,
    ClinicianLicence,
    Membership,
    MembershipRole,
    Organisation,
)
from kapflow.alerts.models import Alert
from kapflow.assessments.models import Response
from kapflow.audit.services import (
    audit_batch,
    audit_not_found,
    audit_record,
    audit_record_many,
)
from kapflow.billing.models import Diagnosis
from kapflow.clinical import instruments
from kapflow.consents.models import ConsentSignature
from kapflow.core.errors import NotFound
from kapflow.courses.models import Course
from kapflow.encounters.models import DosingSession, TimelineEntry
from kapflow.fhir import mapping_admin, mapping_care, mapping_clinical
from kapflow.notes.models import Note
from kapflow.patients import grants
from kapflow.patients.models import Client
from kapflow.prescriptions.models import (
    Dispense,
    DoseUse,
    EligibilityDecision,
    Prescription,
    Referral,
)
from kapflow.scheduling.models import Appointment, AppointmentParticipant


@dataclass(frozen=True)
class Spec:
    """How one FHIR resource type is read: the actor's rows (a kapflow.policy queryset), the
    shape every read gives them (joins, annotations, order), the field `patient=` filters on,
    the field `_lastUpdated` compares (None: not supported), the id prefix and the mapper."""

    model: type
    scope: Callable[[object], QuerySet]
    shape: Callable[[QuerySet], QuerySet]
    patient_field: str | None
    updated_field: str | None
    mapper: Callable[[object], dict]
    prefix: str = ""
    # Further tables served as the same type, each with its own id prefix (Observation: vital
    # signs after the questionnaire totals; Provenance: decisions and consents after notes).
    extra: tuple["Spec", ...] = ()
    # Reference search parameters besides `patient=`: (name, the type it names, the field it
    # filters), e.g. PractitionerRole's ("practitioner", "Practitioner", "pk").
    references: tuple[tuple[str, str, str], ...] = ()
    # The mapper gives a list: one row is several resources (a referral's diagnoses), with ids
    # "<prefix><row id>-<suffix>". Paging then counts resources, not rows (see PER_ROW).
    many: bool = False
    # The attribute holding the care-team rows a resource lists (Group: the caseload): each
    # of those clients is audited too, since the resource names them.
    members: str | None = None

    def parts(self) -> list["Spec"]:
        return [self, *self.extra]

    def part_for(self, raw_id: str) -> "Spec":
        for part in self.extra:
            if raw_id.startswith(part.prefix):
                return part
        return self

    def rows(self, actor) -> QuerySet:
        return self.shape(self.scope(actor))

    def resources(self, row) -> list[dict]:
        return self.mapper(row) if self.many else [self.mapper(row)]

    def listed(self, rows) -> list:
        """The care-team rows the given rows list (their clients are audited)."""
        if self.members is None:
            return []
        return [member for row in rows for member in getattr(row, self.members)]


# A `many` part's offset is row * PER_ROW + the resources of that row already served, so a
# page may end inside a row. A row gives fewer (a referral lists at most 12 diagnoses).
PER_ROW = 100


_NO_CLIENT = Value(None, output_field=IntegerField())


def _shape_patients(qs: QuerySet) -> QuerySet:
    return qs.select_related("organisation").annotate(fhir_client_id=F("pk")).order_by("pk")


def _shape_practitioners(qs: QuerySet) -> QuerySet:
    # Licences are the person's (the user's), shown on every membership as qualifications.
    return (
        qs.select_related("user")
        .prefetch_related(
            Prefetch("user__licences", queryset=ClinicianLicence.objects.order_by("pk"))
        )
        .annotate(fhir_client_id=_NO_CLIENT)
        .order_by("pk")
    )


def _shape_practitioner_roles(qs: QuerySet) -> QuerySet:
    return (
        qs.prefetch_related(Prefetch("roles", queryset=MembershipRole.objects.order_by("role")))
        .annotate(fhir_client_id=_NO_CLIENT)
        .order_by("pk")
    )


def _shape_organisations(qs: QuerySet) -> QuerySet:
    return qs.annotate(fhir_client_id=_NO_CLIENT).order_by("pk")


def _shape_episodes(qs: QuerySet) -> QuerySet:
    return qs.annotate(fhir_client_id=F("client_id")).order_by("pk")


def _shape_observations(qs: QuerySet) -> QuerySet:
    # Current totals only: a response a later correction replaced is not served.
    return (
        qs.filter(submitted_at__isnull=False, corrected_by__isnull=True)
        .annotate(fhir_client_id=F("client_id"))
        .order_by("pk")
    )


def _shape_medication_requests(qs: QuerySet) -> QuerySet:
    return (
        qs.select_related("course").annotate(fhir_client_id=F("course__client_id")).order_by("pk")
    )


def _shape_consents(qs: QuerySet) -> QuerySet:
    return (
        qs.select_related("document", "withdrawal")
        .annotate(fhir_client_id=F("client_id"))
        .order_by("pk")
    )


def _shape_appointments(qs: QuerySet) -> QuerySet:
    first_client = (
        AppointmentParticipant.objects.filter(
            appointment_id=OuterRef("pk"), client_id__isnull=False
        )
        .order_by("id")
        .values("client_id")[:1]
    )
    return (
        qs.prefetch_related(
            Prefetch("participants", queryset=AppointmentParticipant.objects.order_by("id"))
        )
        .annotate(fhir_client_id=Subquery(first_client))
        .order_by("pk")
    )


def _shape_vitals(qs: QuerySet) -> QuerySet:
    # Current entries only: struck ones and those a correction replaced are not served.
    return (
        qs.filter(kind="vitals", struck=False, corrected_by__isnull=True)
        .select_related("session")
        .annotate(fhir_client_id=F("session__client_id"))
        .order_by("pk")
    )


def _vitals(actor) -> QuerySet:
    # As the session pages scope them: through the dosing sessions the actor may see.
    return TimelineEntry.objects.filter(session__in=policy.dosing_sessions_queryset(actor))


VITALS = Spec(
    TimelineEntry, _vitals, _shape_vitals, "session__client_id", "recorded_at",
    mapping_clinical.vital_signs, prefix="vit-",
)  # fmt: skip


def _prescriptions(actor) -> QuerySet:
    # As the prescriptions selectors scope them: through the courses the actor may see.
    return Prescription.objects.filter(course__in=policy.courses_queryset(actor))


def _referral_diagnoses(actor) -> QuerySet:
    # The referrals the actor may see (the referral pages' scope), with at least one
    # diagnosis. As on the referral page and in the JSON API, a partner prescriber no longer
    # sees what a withdrawn referral shared.
    return (
        policy.referrals_queryset(actor)
        .exclude(status="withdrawn", prescriber=actor, partner_id=actor.organisation_id)
        .exclude(diagnoses=[])
    )


def _diagnoses(actor) -> QuerySet:
    # As the billing pages scope them (billing.selectors.billing_client_get): the practice's
    # billers and admins, for its own clients.
    if not policy.can_work_billing(actor):
        return Diagnosis.objects.none()
    return Diagnosis.objects.for_org(actor.organisation)


def _by_client(qs: QuerySet) -> QuerySet:
    return qs.annotate(fhir_client_id=F("client_id")).order_by("pk")


REFERRAL_CONDITIONS = Spec(
    Referral, _referral_diagnoses, _by_client, "client_id", None,
    mapping_care.referral_conditions, prefix="referral-", many=True,
)  # fmt: skip


def group_scope(actor) -> QuerySet:
    """Group/{id}: the caseload of the clinician (therapist or prescriber) whose Practitioner
    has that id, for the clinicians the actor may name (practitioners_queryset). The Group
    read, its search and its $export all start here."""
    clinicians = MembershipRole.objects.filter(role__in=CLINICIAN_ROLES).values("membership_id")
    return policy.practitioners_queryset(actor).filter(pk__in=clinicians)


def _groups(actor) -> QuerySet:
    # The members: the clinician's active care-team clients that the actor may see, as the
    # Group-level $export takes them (kapflow.fhir.export).
    caseload = grants.open_grants(
        client_id__in=policy.clients_queryset(actor).values("pk")
    ).order_by("client_id", "id")
    return group_scope(actor).prefetch_related(
        Prefetch("care_of", queryset=caseload, to_attr="fhir_members")
    )


def _shape_groups(qs: QuerySet) -> QuerySet:
    return qs.select_related("user").annotate(fhir_client_id=_NO_CLIENT).order_by("pk")


def _shape_care_teams(qs: QuerySet) -> QuerySet:
    return (
        qs.prefetch_related(
            Prefetch("care_team", queryset=grants.every_grant().order_by("added_at", "id"))
        )
        .annotate(fhir_client_id=F("pk"))
        .order_by("pk")
    )


def _shape_notes(qs: QuerySet) -> QuerySet:
    # Signed progress notes only: drafts are not yet the record, and psychotherapy notes are
    # kept apart from it (HIPAA 164.501), as in the records-request PDF.
    return _by_client(qs.filter(status="signed", kind="progress"))


def _decisions(actor) -> QuerySet:
    # As the course page shows them: through the courses the actor may see.
    return EligibilityDecision.objects.filter(course__in=policy.courses_queryset(actor))


def _shape_decisions(qs: QuerySet) -> QuerySet:
    return qs.annotate(fhir_client_id=F("course__client_id")).order_by("pk")


def _fills(actor) -> QuerySet:
    # A prescription's fills, as its page shows them: through the courses the actor may see.
    return Dispense.objects.filter(prescription__course__in=policy.courses_queryset(actor))


def _shape_fills(qs: QuerySet) -> QuerySet:
    return (
        qs.select_related("prescription__course")
        .annotate(fhir_client_id=F("prescription__course__client_id"))
        .order_by("pk")
    )


def _doses(actor) -> QuerySet:
    return DoseUse.objects.filter(course__in=policy.courses_queryset(actor))


def _shape_doses(qs: QuerySet) -> QuerySet:
    return (
        qs.select_related("prescription", "course")
        .annotate(
            fhir_client_id=F("course__client_id"),
            # The session the dose was given in: its first dose is the session's dose event.
            fhir_session_id=F("dosing_event__dosing_session__id"),
        )
        .order_by("pk")
    )


DECISION_PROVENANCE = Spec(
    EligibilityDecision, _decisions, _shape_decisions, "course__client_id", "decided_at",
    mapping_care.provenance_decision, prefix="decision-",
)  # fmt: skip
CONSENT_PROVENANCE = Spec(
    ConsentSignature, policy.consent_signatures_queryset, _by_client, "client_id", "signed_at",
    mapping_care.provenance_consent, prefix="consent-",
)  # fmt: skip


SPECS: dict[str, Spec] = {
    "Patient": Spec(
        Client, policy.clients_queryset, _shape_patients, "pk", "updated_at",
        mapping_admin.patient,
    ),
    "Practitioner": Spec(
        Membership, policy.practitioners_queryset, _shape_practitioners, None, None,
        mapping_admin.practitioner,
    ),
    # One PractitionerRole per staff membership (the same id as its Practitioner): the roles
    # that person holds in that organisation, under the Practitioner's policy.
    "PractitionerRole": Spec(
        Membership, policy.practitioners_queryset, _shape_practitioner_roles, None, None,
        mapping_admin.practitioner_role,
        references=(
            ("practitioner", "Practitioner", "pk"),
            ("organization", "Organization", "organisation_id"),
        ),
    ),
    "Organization": Spec(
        Organisation, policy.organisations_queryset, _shape_organisations, None, None,
        mapping_admin.organization,
    ),
    "EpisodeOfCare": Spec(
        Course, policy.courses_queryset, _shape_episodes, "client_id", "stage_changed_at",
        mapping_clinical.episode_of_care,
    ),
    "Observation": Spec(
        Response, policy.responses_queryset, _shape_observations, "client_id", "submitted_at",
        mapping_clinical.observation, prefix="resp-", extra=(VITALS,),
    ),
    "MedicationRequest": Spec(
        Prescription, _prescriptions, _shape_medication_requests, "course__client_id", None,
        mapping_clinical.medication_request,
    ),
    "Consent": Spec(
        ConsentSignature, policy.consent_signatures_queryset, _shape_consents, "client_id",
        "signed_at", mapping_clinical.consent,
    ),
    "Appointment": Spec(
        Appointment, policy.appointments_queryset, _shape_appointments,
        "participants__client_id", None, mapping_clinical.appointment,
    ),
    # The billing diagnoses (billers and admins), then the referrals' diagnoses (whoever sees
    # the referral: the practice's clinicians and admins, the partner prescriber).
    "Condition": Spec(
        Diagnosis, _diagnoses, _by_client, "client_id", None, mapping_care.condition,
        extra=(REFERRAL_CONDITIONS,),
    ),
    "Encounter": Spec(
        DosingSession, policy.dosing_sessions_queryset, _by_client, "client_id", None,
        mapping_care.encounter,
    ),
    "QuestionnaireResponse": Spec(
        Response, policy.responses_queryset, _shape_observations, "client_id", "submitted_at",
        mapping_care.questionnaire_response,
    ),
    "CareTeam": Spec(
        Client, policy.clients_queryset, _shape_care_teams, "pk", None, mapping_care.care_team,
    ),
    "Flag": Spec(Alert, policy.alerts_queryset, _by_client, "client_id", None, mapping_care.flag),
    "DocumentReference": Spec(
        Note, policy.notes_queryset, _shape_notes, "client_id", None,
        mapping_care.document_reference,
    ),
    "Provenance": Spec(
        Note, policy.notes_queryset, _shape_notes, "client_id", "signed_at",
        mapping_care.provenance_note, prefix="note-",
        extra=(DECISION_PROVENANCE, CONSENT_PROVENANCE),
    ),
    "MedicationDispense": Spec(
        Dispense, _fills, _shape_fills, "prescription__course__client_id", None,
        mapping_care.medication_dispense,
    ),
    "MedicationAdministration": Spec(
        DoseUse, _doses, _shape_doses, "course__client_id", "recorded_at",
        mapping_care.medication_administration,
    ),
    # A clinician's caseload, the Group a Group-level $export names (same id as the
    # Practitioner).
    "Group": Spec(
        Membership, _groups, _shape_groups, None, None, mapping_care.group,
        references=(("managing-entity", "Practitioner", "pk"),), members="fhir_members",
    ),
}  # fmt: skip

# Types served from code, not from the database: the instruments as Questionnaires. They hold
# no PHI, so reading them is not audited; they still need a staff sign-in like the rest.
QUESTIONNAIRES = {code: mapping_care.questionnaire(i) for code, i in instruments.REGISTRY.items()}


def parse_id(spec: Spec, raw: str) -> int | None:
    """The database id in a FHIR id, or None when it cannot name a row of this type."""
    if spec.many:  # "<prefix><row id>-<suffix>"
        rest = raw[len(spec.prefix) :] if raw.startswith(spec.prefix) else ""
        raw = spec.prefix + rest.partition("-")[0]
    return _number(raw, spec.prefix)


def _number(raw: str, prefix: str = "") -> int | None:
    if prefix:
        if not raw.startswith(prefix):
            return None
        raw = raw[len(prefix) :]
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 12:
        return None
    return int(raw)


# Audit rows per INSERT when a resource names many clients (a Group of a whole caseload), so
# one statement stays bounded. (Written when a VALUES list failed past 3,640 rows; since
# ce9ad4f one INSERT takes any number, and this bound is only a size limit.)
AUDIT_CHUNK = 1000


def audit_chunked(*, actor, action: str, targets: list, client_attr: str) -> None:
    """audit_record_many for any number of rows: one INSERT per AUDIT_CHUNK of them."""
    for start in range(0, len(targets), AUDIT_CHUNK):
        with audit_batch():
            audit_record_many(
                actor=actor, action=action, targets=targets[start : start + AUDIT_CHUNK],
                client_attr=client_attr,
            )  # fmt: skip


def resource_read(*, actor, resource_type: str, resource_id: str) -> dict:
    spec = SPECS[resource_type].part_for(resource_id)
    pk = parse_id(spec, resource_id)
    row = spec.rows(actor).filter(pk=pk).first() if pk is not None else None
    found = [r for r in spec.resources(row) if r["id"] == resource_id] if row is not None else []
    if not found:
        if pk is None or spec.model is Organisation:
            raise NotFound()
        raise audit_not_found(actor=actor, model=spec.model, object_id=pk)
    audit_record(actor=actor, action="fhir.read", target=row, client_id=row.fhir_client_id)
    audit_chunked(
        actor=actor, action="fhir.read", targets=spec.listed([row]), client_attr="client_id"
    )
    return found[0]


@dataclass(frozen=True)
class Search:
    patient: int | None = None
    updated_after: datetime | None = None  # _lastUpdated=gt / ge
    updated_before: datetime | None = None  # _lastUpdated=lt / le
    count: int = 20
    offsets: tuple[int, ...] = (0,)  # one per part of the type (Observation: totals, vitals)
    include_patients: bool = False  # _include=<Type>:patient
    where: tuple[tuple[str, int], ...] = ()  # reference parameters: (field, id)


def _filtered(spec: Spec, actor, search: Search) -> QuerySet:
    qs = spec.rows(actor)
    if search.patient is not None:
        qs = qs.filter(**{spec.patient_field: search.patient})
    for field, value in search.where:
        qs = qs.filter(**{field: value})
    if search.updated_after is not None:
        qs = qs.filter(**{f"{spec.updated_field}__gte": search.updated_after})
    if search.updated_before is not None:
        qs = qs.filter(**{f"{spec.updated_field}__lt": search.updated_before})
    if spec.patient_field and "__" in spec.patient_field and search.patient is not None:
        qs = qs.distinct()
    return qs


@dataclass(frozen=True)
class Page:
    resources: list[dict]
    following: tuple[int, ...] | None  # the next page's offsets; None: this is the last
    included: list[dict]  # _include: the Patients the page's resources point to


def resource_search(*, actor, resource_type: str, search: Search) -> Page:
    """One page of resources and the offsets of the next page. A type served from several
    tables (Observation, Provenance) reads each, the first one's rows first. Two queries per
    table whatever the page size (one more for a prefetch: Appointment's participants,
    CareTeam's members), one for `_include`'s Patients, plus one INSERT for the audit rows."""
    parts = SPECS[resource_type].parts()
    offsets = (tuple(search.offsets) + (0,) * len(parts))[: len(parts)]
    room = search.count
    page: list = []
    following = []
    more = False
    client_ids: set[int] = set()
    with audit_batch():
        for spec, offset in zip(parts, offsets, strict=True):
            # Every part is read even when the page is full, so the query count is fixed.
            if spec.many:
                taken, resources, offset_next, left = _take_many(spec, actor, search, offset, room)
            else:
                rows = list(_filtered(spec, actor, search)[offset : offset + search.count + 1])
                taken = rows[:room]
                resources = [spec.mapper(row) for row in taken]
                offset_next, left = offset + len(taken), len(rows) > len(taken)
            more = more or left
            room -= len(resources)
            following.append(offset_next)
            audit_record_many(
                actor=actor, action="fhir.search", targets=taken, client_attr="fhir_client_id"
            )
            audit_chunked(
                actor=actor, action="fhir.search", targets=spec.listed(taken),
                client_attr="client_id",
            )  # fmt: skip
            page.extend(resources)
            client_ids.update(row.fhir_client_id for row in taken if row.fhir_client_id)
        included = []
        if search.include_patients and client_ids:
            patients = SPECS["Patient"]
            rows = list(patients.rows(actor).filter(pk__in=sorted(client_ids)))
            audit_record_many(
                actor=actor, action="fhir.search", targets=rows, client_attr="fhir_client_id"
            )
            included = [patients.mapper(row) for row in rows]
    return Page(page, tuple(following) if more else None, included)


def _take_many(spec: Spec, actor, search: Search, offset: int, room: int):
    """A `many` part's share of a page: the rows it read from (for the audit), up to `room`
    resources, the next offset and whether anything is left. Reads count + 1 rows, as the
    other parts do: every row gives at least one resource, so that is always enough."""
    start, skip = divmod(offset, PER_ROW)
    rows = list(_filtered(spec, actor, search)[start : start + search.count + 1])
    taken, resources = [], []
    position = start * PER_ROW + skip
    for row in rows:
        if room - len(resources) <= 0:
            return taken, resources, position, True
        produced = spec.resources(row)[skip:]
        served = produced[: room - len(resources)]
        if served:
            taken.append(row)
            resources.extend(served)
        if len(served) < len(produced):
            return taken, resources, position + len(served), True
        position = (position // PER_ROW + 1) * PER_ROW
        skip = 0
    return taken, resources, position, len(rows) > search.count


def patient_everything(*, actor, client_id: int, limit: int = 1000) -> list[dict]:
    """Every resource about one client that the actor may see ($everything): the Patient
    first, then each type's rows for that client, each table capped at `limit` rows."""
    patient = resource_read(actor=actor, resource_type="Patient", resource_id=str(client_id))
    resources = [patient]
    with audit_batch():
        for name, owner in SPECS.items():
            if owner.patient_field is None or name == "Patient":
                continue
            for spec in owner.parts():
                qs = spec.rows(actor).filter(**{spec.patient_field: client_id})
                if "__" in spec.patient_field:
                    qs = qs.distinct()
                rows = list(qs[:limit])
                audit_record_many(
                    actor=actor, action="fhir.everything", targets=rows,
                    client_attr="fhir_client_id",
                )  # fmt: skip
                for row in rows:
                    resources.extend(spec.resources(row))
    return resources


def own_record(*, actor) -> tuple[Client, list[dict]]:
    """The signed-in client's whole record as FHIR resources, for the portal download: the
    Patient, their practice, then every clinical type's rows for that client. Not audited
    here: the download view audits the file it releases, with its digest."""
    if not policy.can_download_own_record(actor):
        raise NotFound()
    client = (
        Client.objects.for_org(actor.organisation)
        .select_related("organisation")
        .filter(user_id=actor.user_id)
        .first()
    )
    if client is None:
        raise NotFound()
    resources = [mapping_admin.patient(client), mapping_admin.organization(client.organisation)]
    for name, owner in SPECS.items():
        if owner.patient_field is None or name == "Patient":
            continue
        for spec in owner.parts():
            qs = spec.model.objects.for_org(actor.organisation).filter(
                **{spec.patient_field: client.pk}
            )
            if "__" in spec.patient_field:
                qs = qs.distinct()
            for row in spec.shape(qs):
                resources.extend(spec.resources(row))
    return client, resources


def questionnaire_read(*, resource_id: str) -> dict:
    if resource_id not in QUESTIONNAIRES:
        raise NotFound()
    return QUESTIONNAIRES[resource_id]


def questionnaire_search(*, search: Search) -> Page:
    rows = [QUESTIONNAIRES[code] for code in sorted(QUESTIONNAIRES)]
    start = search.offsets[0]
    page = rows[start : start + search.count]
    end = start + len(page)
    return Page(page, (end,) if end < len(rows) else None, [])


def note_pdf(*, actor, binary_id: str):
    """Binary/note-<id>: a signed note's PDF, for a DocumentReference's attachment. The same
    policy and the same file as the note's PDF page (kapflow.notes); the caller audits the
    release with the file's digest, as that page does."""
    from kapflow.notes.pdf import render_notes
    from kapflow.notes.selectors import note_for_export

    pk = _number(binary_id, "note-")
    if pk is None:
        raise NotFound()
    note = note_for_export(actor=actor, note_id=pk)
    return note, render_notes([note], title=f"Note #{note.pk}")
