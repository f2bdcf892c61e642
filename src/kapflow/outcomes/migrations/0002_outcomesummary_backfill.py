"""Fill OutcomeSummary for the responses that exist before it (decision 0043).

A frozen copy of outcomes.selectors.computed_summaries (migrations never import app code);
tests/outcomes/test_summaries.py checks that both give the same rows. The instrument rules
come from kapflow.clinical.instruments, pure Python with no Django import, as the summaries
written later will. 2,000 clients per step, so a large practice is not held in memory (at
100,000 clients and 2,000,000 responses on PostgreSQL it took 35 s on a busy 2-core box).
"""

from collections import defaultdict

from django.db import migrations
from django.db.models import Exists, OuterRef

BATCH = 2000


def backfill(apps, schema_editor):
    from kapflow.clinical import instruments

    Client = apps.get_model("patients", "Client")
    Course = apps.get_model("courses", "Course")
    Response = apps.get_model("assessments", "Response")
    OutcomeSummary = apps.get_model("outcomes", "OutcomeSummary")
    db = schema_editor.connection.alias  # the database being migrated, not always "default"
    last = 0
    while True:
        organisations = dict(
            Client.objects.using(db)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "organisation_id")[:BATCH]
        )
        if not organisations:
            break
        ids = list(organisations)
        corrected = Response.objects.using(db).filter(corrects=OuterRef("pk"))
        series = defaultdict(list)
        for client_id, org_id, code, pk, at, total in (
            Response.objects.using(db)
            .filter(client_id__in=ids, submitted_at__isnull=False)
            .filter(~Exists(corrected))
            .order_by("client_id", "instrument", "submitted_at", "id")
            .values_list(
                "client_id", "organisation_id", "instrument", "id", "submitted_at", "total"
            )
        ):
            if org_id == organisations[client_id]:
                series[(client_id, code)].append((pk, at, total))
        latest = {}
        for client_id, org_id, *group in (
            Course.objects.using(db)
            .filter(client_id__in=ids)
            .order_by("client_id", "opened_at", "id")
            .values_list(
                "client_id", "organisation_id", "pathway", "delivery", "condition", "therapist_id"
            )
        ):
            if org_id == organisations[client_id]:
                latest[client_id] = group
        rows = []
        for (client_id, code), scores in series.items():
            instrument = instruments.REGISTRY.get(code)
            if instrument is None:
                continue
            (first_id, first_at, first), (last_id, last_at, final) = scores[0], scores[-1]
            two = len(scores) >= 2
            pathway, delivery, condition, therapist_id = latest.get(client_id, (None,) * 4)
            rows.append(
                OutcomeSummary(
                    organisation_id=organisations[client_id],
                    client_id=client_id,
                    instrument=code,
                    scores=len(scores),
                    baseline_response_id=first_id,
                    baseline_at=first_at,
                    baseline_total=first,
                    latest_response_id=last_id,
                    latest_at=last_at,
                    latest_total=final,
                    change=instruments.change_from_baseline(first, final) if two else None,
                    response=instruments.is_response(instrument, first, final) if two else None,
                    remission=instruments.is_remission(instrument, final) if two else None,
                    pathway=pathway,
                    delivery=delivery,
                    condition=condition,
                    therapist_id=therapist_id,
                )
            )
        OutcomeSummary.objects.using(db).bulk_create(rows, batch_size=500)
        last = ids[-1]
    if schema_editor.connection.vendor == "postgresql":
        # Statistics now, not whenever autovacuum comes by: without them the report's GROUP BY
        # is planned for one row and sorts 100,000 on disk (120 ms instead of 45).
        schema_editor.execute("ANALYZE outcomes_outcomesummary")


def unfill(apps, schema_editor):
    OutcomeSummary = apps.get_model("outcomes", "OutcomeSummary")
    OutcomeSummary.objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0001_outcomesummary_initial"),
        ("courses", "0008_gatesettings_add_override_authority_overridedecision"),
    ]

    operations = [migrations.RunPython(backfill, unfill)]
