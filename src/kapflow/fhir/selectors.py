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
from kapflow.accounts.models import Membership, Organisation
from kapflow.assessments.models import Response
from kapflow.audit.services import (
    audit_batch,
    audit_not_found,
    audit_record,
    audit_record_many,
)
from kapflow.consents.models import ConsentSignature
from kapflow.core.errors import NotFound
from kapflow.courses.models import Course
from kapflow.encounters.models import TimelineEntry
from kapflow.fhir import mapping_admin, mapping_clinical
from kapflow.patients.models import Client
from kapflow.prescriptions.models import Prescription
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
    extra: "Spec | None" = None  # a second table served as the same type (vital signs)

    def parts(self) -> list["Spec"]:
        return [self] if self.extra is None else [self, self.extra]

    def part_for(self, raw_id: str) -> "Spec":
        if self.extra is not None and raw_id.startswith(self.extra.prefix):
            return self.extra
        return self

    def rows(self, actor) -> QuerySet:
        return self.shape(self.scope(actor))


_NO_CLIENT = Value(None, output_field=IntegerField())


def _shape_patients(qs: QuerySet) -> QuerySet:
    return qs.select_related("organisation").annotate(fhir_client_id=F("pk")).order_by("pk")


def _shape_practitioners(qs: QuerySet) -> QuerySet:
    return qs.select_related("user").annotate(fhir_client_id=_NO_CLIENT).order_by("pk")


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


SPECS: dict[str, Spec] = {
    "Patient": Spec(
        Client, policy.clients_queryset, _shape_patients, "pk", "updated_at",
        mapping_admin.patient,
    ),
    "Practitioner": Spec(
        Membership, policy.practitioners_queryset, _shape_practitioners, None, None,
        mapping_admin.practitioner,
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
        mapping_clinical.observation, prefix="resp-", extra=VITALS,
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
}  # fmt: skip


def parse_id(spec: Spec, raw: str) -> int | None:
    """The database id in a FHIR id, or None when it cannot name a row of this type."""
    if spec.prefix:
        if not raw.startswith(spec.prefix):
            return None
        raw = raw[len(spec.prefix) :]
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 12:
        return None
    return int(raw)


def resource_read(*, actor, resource_type: str, resource_id: str) -> dict:
    spec = SPECS[resource_type].part_for(resource_id)
    pk = parse_id(spec, resource_id)
    row = spec.rows(actor).filter(pk=pk).first() if pk is not None else None
    if row is None:
        if pk is None or spec.model is Organisation:
            raise NotFound()
        raise audit_not_found(actor=actor, model=spec.model, object_id=pk)
    audit_record(actor=actor, action="fhir.read", target=row, client_id=row.fhir_client_id)
    return spec.mapper(row)


@dataclass(frozen=True)
class Search:
    patient: int | None = None
    updated_after: datetime | None = None  # _lastUpdated=gt / ge
    updated_before: datetime | None = None  # _lastUpdated=lt / le
    count: int = 20
    offsets: tuple[int, ...] = (0,)  # one per part of the type (Observation: totals, vitals)


def _filtered(spec: Spec, actor, search: Search) -> QuerySet:
    qs = spec.rows(actor)
    if search.patient is not None:
        qs = qs.filter(**{spec.patient_field: search.patient})
    if search.updated_after is not None:
        qs = qs.filter(**{f"{spec.updated_field}__gte": search.updated_after})
    if search.updated_before is not None:
        qs = qs.filter(**{f"{spec.updated_field}__lt": search.updated_before})
    if spec.patient_field and "__" in spec.patient_field and search.patient is not None:
        qs = qs.distinct()
    return qs


def resource_search(
    *, actor, resource_type: str, search: Search
) -> tuple[list[dict], tuple[int, ...] | None]:
    """One page of resources and the offsets of the next page (None: this is the last). A
    type served from two tables (Observation) reads both, the first one's rows first. Two
    queries per table whatever the page size (one more for Appointment's participants), plus
    one INSERT for the audit rows."""
    parts = SPECS[resource_type].parts()
    offsets = (tuple(search.offsets) + (0,) * len(parts))[: len(parts)]
    room = search.count
    page: list = []
    following = []
    more = False
    with audit_batch():
        for spec, offset in zip(parts, offsets, strict=True):
            # Every part is read even when the page is full, so the query count is fixed.
            rows = list(_filtered(spec, actor, search)[offset : offset + search.count + 1])
            taken = rows[:room]
            more = more or len(rows) > len(taken)
            room -= len(taken)
            following.append(offset + len(taken))
            audit_record_many(
                actor=actor, action="fhir.search", targets=taken, client_attr="fhir_client_id"
            )
            page.extend(spec.mapper(row) for row in taken)
    return page, (tuple(following) if more else None)


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
                resources.extend(spec.mapper(row) for row in rows)
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
            resources.extend(spec.mapper(row) for row in spec.shape(qs))
    return client, resources
