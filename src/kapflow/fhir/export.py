"""Bulk $export (FHIR Bulk Data Access): kick-off, the run the task worker does, status,
cancel, the requester's download and the purge of expired files.

The rows come from the same Spec table, scope and mapping as read and search
(kapflow.fhir.selectors), so an export never holds what a search would not show the requester.
Each client whose record goes in is audited once per export as `fhir.export` (the
export as target), with the first batch that holds any of it. Files are NDJSON under
MEDIA_ROOT/private/fhir-exports/<token>/, a directory no URL serves. Nothing here logs PHI:
log lines carry the export's id and counts only.
"""

import json
import logging
import secrets
import shutil
from copy import copy as _copy
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_record
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound
from kapflow.fhir.models import ACTIVE_STATUSES, BulkExport, ExportLevel, ExportStatus
from kapflow.fhir.selectors import SPECS, audit_chunked, group_scope
from kapflow.patients import grants

logger = logging.getLogger(__name__)

BATCH = 1000
EXPIRES_AFTER = timedelta(hours=24)
# A run that has not finished a day after it started died with its worker.
STALE_AFTER = timedelta(hours=24)


def export_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "private" / "fhir-exports"


def export_dir(export: BulkExport) -> Path:
    return export_root() / export.token


def patient_types() -> list[str]:
    return [name for name, spec in SPECS.items() if spec.patient_field is not None]


def default_types(level: str) -> list[str]:
    return list(SPECS) if level == ExportLevel.SYSTEM else patient_types()


def group_get(*, actor, group_id: str) -> Membership:
    """Group/{id}: the caseload of the clinician with that id, if the actor may name them (the
    same rows as a Group read, kapflow.fhir.selectors.group_scope)."""
    pk = int(group_id) if group_id.isascii() and group_id.isdecimal() and len(group_id) < 13 else 0
    membership = group_scope(actor).filter(pk=pk).first()
    if membership is None:
        raise NotFound()
    return membership


@transaction.atomic
def export_kickoff(
    *,
    actor,
    level: str,
    types: list[str],
    since: datetime | None,
    request_url: str,
    group: Membership | None = None,
) -> BulkExport:
    """Queue one export for the worker. One at a time per requester: a second while one is
    queued or running is refused (the client waits for it, or cancels it)."""
    # Lock the requester's row so two kick-offs at once cannot both pass the check.
    Membership.objects.select_for_update().filter(pk=actor.pk).first()
    if BulkExport.objects.filter(requested_by=actor, status__in=ACTIVE_STATUSES).exists():
        raise DomainError(
            "An export of yours is already running: wait for it, or cancel it (DELETE on its "
            "status URL).",
            code="fhir.export_running",
        )
    export = BulkExport(
        organisation=actor.organisation,
        requested_by=actor,
        token=secrets.token_urlsafe(24),
        level=level,
        group=group,
        types=types,
        since=since,
        request_url=request_url[:2000],
        progress="Queued",
        created_at=clock.now(),
    )
    export.full_clean()
    export.save()
    audit_record(actor=actor, action="fhir.export_start", target=export)
    from kapflow.fhir.tasks import bulk_export_task

    transaction.on_commit(lambda: bulk_export_task.enqueue(export.pk))
    return export


def export_get(*, actor, token: str) -> BulkExport:
    """The requester's own export, still within its life; anyone else's is "not found"."""
    export = (
        BulkExport.objects.for_org(actor.organisation)
        .filter(token=token, requested_by=actor)
        .exclude(status__in=(ExportStatus.CANCELLED, ExportStatus.EXPIRED))
        .first()
    )
    if export is None or (export.expires_at is not None and export.expires_at <= clock.now()):
        raise NotFound()
    return export


def export_cancel(*, actor, token: str) -> None:
    """DELETE on the status URL: stop a queued or running export, or delete a finished one's
    files now. The worker sees the status between batches and stops."""
    with transaction.atomic():
        export = export_get(actor=actor, token=token)
        BulkExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.CANCELLED, progress="Cancelled", finished_at=clock.now()
        )
        audit_record(actor=actor, action="fhir.export_cancel", target=export)
    shutil.rmtree(export_dir(export), ignore_errors=True)


def export_file(*, actor, token: str, name: str) -> tuple[BulkExport, Path]:
    """One output file of a complete export, for its requester. The download is audited."""
    export = export_get(actor=actor, token=token)
    if export.status != ExportStatus.COMPLETE:
        raise NotFound()
    files = {entry["file"] for entry in export.output}
    if name not in files:
        raise NotFound()
    path = export_dir(export) / name
    if not path.is_file():
        raise NotFound()
    audit_record(actor=actor, action="fhir.export_download", target=export)
    return export, path


def _patients(export: BulkExport, actor) -> QuerySet | None:
    """The clients whose resources go in (None: no patient filter, system level)."""
    if export.level == ExportLevel.SYSTEM:
        return None
    visible = policy.clients_queryset(actor).values("pk")
    if export.level == ExportLevel.GROUP:
        caseload = grants.open_grants(membership_id=export.group_id).values("client_id")
        return visible.filter(pk__in=caseload)
    return visible


def _rows(spec, actor, patients, since) -> QuerySet:
    qs = spec.rows(actor)
    if patients is not None:
        qs = qs.filter(**{f"{spec.patient_field}__in": patients})
        if "__" in spec.patient_field:
            qs = qs.distinct()
    # _since: only rows changed since, where the row keeps a change time; a type without one
    # is exported whole (its rows may have changed, and missing them would be worse).
    if since is not None and spec.updated_field is not None:
        qs = qs.filter(**{f"{spec.updated_field}__gte": since})
    return qs


class _Cancelled(Exception):
    pass


def _still_wanted(export_id: int) -> None:
    if BulkExport.objects.filter(pk=export_id, status=ExportStatus.CANCELLED).exists():
        raise _Cancelled()


def export_run(*, export_id: int) -> dict:
    """The worker's part: claim a queued export and write one NDJSON file per type. Safe to
    run twice: a second run finds nothing queued and does nothing."""
    claimed = BulkExport.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, progress="Starting"
    )
    if not claimed:
        return {"export_id": export_id, "ran": False}
    export = BulkExport.objects.select_related("organisation").get(pk=export_id)
    actor = (
        Membership.objects.select_related("organisation", "user")
        .prefetch_related("roles")
        .filter(pk=export.requested_by_id, is_active=True)
        .first()
    )
    directory = export_dir(export)
    try:
        if actor is None or not policy.can_use_fhir(actor):
            raise NotFound()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        output = _write_all(export, actor, directory)
    except _Cancelled:
        shutil.rmtree(directory, ignore_errors=True)
        logger.info("fhir.export_cancelled", extra={"export_id": export_id})
        return {"export_id": export_id, "ran": True, "cancelled": True}
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        logger.exception("fhir.export_failed", extra={"export_id": export_id})
        BulkExport.objects.filter(pk=export_id).exclude(status=ExportStatus.CANCELLED).update(
            status=ExportStatus.FAILED,
            progress="Failed",
            error="The export stopped with an error; start a new one.",
            finished_at=clock.now(),
        )
        return {"export_id": export_id, "ran": True, "failed": True}
    now = clock.now()
    finished = BulkExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING).update(
        status=ExportStatus.COMPLETE,
        progress="Complete",
        output=output,
        finished_at=now,
        expires_at=now + EXPIRES_AFTER,
    )
    if not finished:  # cancelled after the last batch
        shutil.rmtree(directory, ignore_errors=True)
    total = sum(entry["count"] for entry in output)
    logger.info("fhir.export_complete", extra={"export_id": export_id, "resources": total})
    return {"export_id": export_id, "ran": True, "resources": total}


def _audit_clients(export: BulkExport, actor, spec, rows, recorded: set[int]) -> None:
    """One `fhir.export` row per client whose record the export holds, written with the
    first batch that holds any of it (its target is the export, so the client's accounting
    of disclosures shows one copy per export). `recorded` is the clients already written."""
    clients = {row.fhir_client_id for row in rows if row.fhir_client_id}
    clients.update(member.client_id for member in spec.listed(rows))
    new = sorted(clients - recorded)
    if not new:
        return
    recorded.update(new)
    copies = []
    for client_id in new:
        copy = _copy(export)
        copy.fhir_client_id = client_id
        copies.append(copy)
    audit_chunked(actor=actor, action="fhir.export", targets=copies, client_attr="fhir_client_id")


def _write_all(export: BulkExport, actor, directory: Path) -> list[dict]:
    """Each type's file written batch by batch (BATCH rows read, mapped, written, let go), so
    memory stays flat whatever the practice's size; the set of audited client ids is the only
    thing that grows (one int per client)."""
    patients = _patients(export, actor)
    recorded: set[int] = set()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    output = []
    for done, name in enumerate(export.types):
        _still_wanted(export.pk)
        count = 0
        path = directory / f"{name}.ndjson"
        with path.open("w", encoding="utf-8") as handle:
            path.chmod(0o600)
            for spec in SPECS[name].parts():
                qs = _rows(spec, actor, patients, export.since)
                last = 0
                while True:
                    rows = list(qs.filter(pk__gt=last)[:BATCH])
                    if not rows:
                        break
                    _audit_clients(export, actor, spec, rows, recorded)
                    lines = [dumps(r) for row in rows for r in spec.resources(row)]
                    handle.write("\n".join(lines) + "\n")
                    count += len(lines)
                    last = rows[-1].pk
                    del rows, lines
                    _still_wanted(export.pk)
        if count:
            output.append({"type": name, "file": path.name, "count": count})
        else:
            path.unlink()
        BulkExport.objects.filter(pk=export.pk, status=ExportStatus.RUNNING).update(
            progress=f"{done + 1} of {len(export.types)} resource types written"
        )
    return output


def export_purge(*, now: datetime | None = None) -> dict:
    """The periodic job: delete the files of expired exports (their rows stay, as what was
    released and when), and fail runs whose worker died."""
    now = now or clock.now()
    expired = list(
        BulkExport.objects.filter(status=ExportStatus.COMPLETE, expires_at__lte=now).values_list(
            "pk", "token"
        )
    )
    for _, token in expired:
        shutil.rmtree(export_root() / token, ignore_errors=True)
    BulkExport.objects.filter(pk__in=[pk for pk, _ in expired]).update(
        status=ExportStatus.EXPIRED, progress="Expired", output=[]
    )
    stale = BulkExport.objects.filter(
        status__in=ACTIVE_STATUSES, created_at__lte=now - STALE_AFTER
    ).update(
        status=ExportStatus.FAILED,
        progress="Failed",
        error="The worker did not finish this export.",
        finished_at=now,
    )
    # Directories no live export owns (a crash between writing and recording).
    live = set(
        BulkExport.objects.filter(status__in=(*ACTIVE_STATUSES, ExportStatus.COMPLETE)).values_list(
            "token", flat=True
        )
    )
    orphans = 0
    if export_root().is_dir():
        for child in export_root().iterdir():
            if child.name not in live:
                shutil.rmtree(child, ignore_errors=True)
                orphans += 1
    counts = {"expired": len(expired), "stale": stale, "orphans": orphans}
    logger.info("fhir.export_purged", extra=counts)
    return counts
