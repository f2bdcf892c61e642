"""FHIR background work: a bulk $export's run, and the hourly purge of expired export files.
Arguments are ids only (kapflow.fhir.export does the work)."""

from django_tasks import task


@task()
def bulk_export_task(export_id: int) -> dict:
    from kapflow.fhir.export import export_run

    return export_run(export_id=export_id)


@task()
def bulk_export_purge_task() -> dict:
    from kapflow.fhir.export import export_purge

    return export_purge()
