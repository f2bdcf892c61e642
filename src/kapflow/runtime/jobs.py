"""The periodic jobs the scheduler (`kapflow scheduler`) runs: the one registry.

Each job is a function that enqueues tasks (ids only) and returns their results, registered
with its period. Add a job here, next to the others, when an app needs periodic work (a purge,
an export expiry); its task must be safe to run again, since a period may be retried after a
crash. Cron users can keep running the matching commands instead (`kapflow scan_deadlines`,
`kapflow send_reminders`, `kapflow audit_verify --enqueue`).
"""

from datetime import timedelta

from kapflow.runtime.schedule import scheduled


@scheduled("deadlines", every=timedelta(minutes=15))
def deadlines() -> list:
    """Deadline scan and measurement schedule, per practice (as `kapflow scan_deadlines`)."""
    from kapflow.accounts.models import Organisation, OrganisationKind
    from kapflow.assessments.tasks import measurement_scan_task
    from kapflow.courses.tasks import deadline_scan_task

    results = []
    practices = Organisation.objects.filter(kind=OrganisationKind.PRACTICE).order_by("pk")
    for org_id in practices.values_list("pk", flat=True):
        results.append(deadline_scan_task.enqueue(org_id))
        results.append(measurement_scan_task.enqueue(org_id))
    return results


@scheduled("reminders", every=timedelta(minutes=5))
def reminders() -> list:
    """Appointment reminders that are due (as `kapflow send_reminders`)."""
    from kapflow.scheduling.tasks import reminders_send_task

    return [reminders_send_task.enqueue()]


@scheduled("directory_holds", every=timedelta(minutes=5))
def directory_holds() -> list:
    """Release the slots of public consultation requests not confirmed in time."""
    from kapflow.directory.tasks import inquiry_holds_expire_task

    return [inquiry_holds_expire_task.enqueue()]


@scheduled("fhir_exports_expire", every=timedelta(hours=1))
def fhir_exports_expire() -> list:
    """Delete the files of FHIR bulk exports past their expiry (decision 0048)."""
    from kapflow.fhir.tasks import bulk_export_purge_task

    return [bulk_export_purge_task.enqueue()]


# Nightly at 10:00 UTC: 02:00 or 03:00 on the US Pacific coast, before any US practice opens.
@scheduled("audit_verify", every=timedelta(days=1), offset=timedelta(hours=10))
def audit_verify() -> list:
    """Walk the audit trail's hash chain (as `kapflow audit_verify --enqueue`)."""
    from kapflow.audit.tasks import audit_verify_task

    return [audit_verify_task.enqueue()]


@scheduled("runtime_purge", every=timedelta(days=1), offset=timedelta(hours=11))
def runtime_purge() -> list:
    """Delete old finished task results, job runs and dead heartbeats."""
    from kapflow.runtime.tasks import runtime_purge_task

    return [runtime_purge_task.enqueue()]


# Daily at 10:30 UTC: past midnight for practices from Hawaii to Europe, before any opens.
# Each task reads the practice's own calendar, so the billing day is the practice's day.
@scheduled("billing_subscriptions", every=timedelta(days=1), offset=timedelta(hours=10.5))
def billing_subscriptions() -> list:
    """Charge the subscriptions whose billing day has come, per practice that has any."""
    from django.db.models import F, Q

    from kapflow.billing.models import Subscription
    from kapflow.billing.tasks import subscriptions_bill_task

    org_ids = (
        Subscription.objects.filter(billed_through__isnull=False)
        .filter(Q(cancelled_on__isnull=True) | Q(cancelled_on__gt=F("billed_through")))
        .values_list("organisation_id", flat=True)
        .distinct()
        .order_by("organisation_id")
    )
    return [subscriptions_bill_task.enqueue(org_id) for org_id in org_ids]


@scheduled("billing_statements", every=timedelta(days=1), offset=timedelta(hours=10.75))
def billing_statements() -> list:
    """Last month's statements, once each practice's month has ended (a no-op after that)."""
    from kapflow.accounts.models import Organisation, OrganisationKind
    from kapflow.billing.tasks import statements_month_end_task

    practices = Organisation.objects.filter(kind=OrganisationKind.PRACTICE).order_by("pk")
    return [statements_month_end_task.enqueue(pk) for pk in practices.values_list("pk", flat=True)]


# Nightly at 09:00 UTC, before the audit walk: on SQLite the query planner has statistics
# only if ANALYZE runs (decision 0043); PostgreSQL's autovacuum does this itself.
@scheduled("sqlite_optimize", every=timedelta(days=1), offset=timedelta(hours=9))
def sqlite_optimize() -> list:
    """Refresh SQLite's planner statistics (ANALYZE, PRAGMA optimize); none on PostgreSQL."""
    from kapflow.core.sqlite import is_sqlite
    from kapflow.core.tasks import sqlite_optimize_task

    return [sqlite_optimize_task.enqueue()] if is_sqlite() else []


# Purges that other apps own, each a task with no arguments, run daily. An entry whose module
# is not installed is skipped, so an app can be listed here before it lands. (The outbox
# purges old messages each time it stores one: kapflow.outbox.services.outbox_purge.)
PURGE_TASKS = {
    # API Idempotency-Key responses and spent form tokens, older than 24 hours (may hold PHI).
    "idempotency_purge": "kapflow.core.tasks.idempotency_purge_task",
}


def _purge_job(path: str):
    def enqueue() -> list:
        from django.utils.module_loading import import_string

        return [import_string(path).enqueue()]

    enqueue.__doc__ = f"Daily purge: {path}."
    return enqueue


def _register_purges() -> None:
    from importlib.util import find_spec

    for hour, (name, path) in enumerate(sorted(PURGE_TASKS.items()), start=12):
        module = path.rsplit(".", 1)[0]
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            scheduled(name, every=timedelta(days=1), offset=timedelta(hours=hour))(_purge_job(path))


_register_purges()
