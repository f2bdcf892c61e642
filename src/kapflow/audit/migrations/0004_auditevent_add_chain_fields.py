"""Schema for the hash chain (decision 0033): digest, prev_digest, subject_hash,
record_organisation on audit events, and the AuditCheck table for audit_verify's runs.

New columns get a constant default, which PostgreSQL (11+) stores without rewriting rows, so
the append-only trigger is not involved. Rows are chained by 0005; 0006 then requires it.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_accounts_initial"),
        ("audit", "0003_auditevent_add_client_request_id"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheck",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                ("ok", models.BooleanField()),
                (
                    "events",
                    models.BigIntegerField(help_text="Events found intact before any break."),
                ),
                ("last_id", models.BigIntegerField(help_text="Last intact event.", null=True)),
                ("last_digest", models.CharField(blank=True, max_length=64)),
                (
                    "broken_id",
                    models.BigIntegerField(help_text="First event that fails.", null=True),
                ),
                ("detail", models.CharField(blank=True, max_length=300)),
                ("seconds", models.FloatField(default=0)),
            ],
            options={
                "indexes": [models.Index(fields=["-at"], name="audit_check_at_idx")],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="digest",
            field=models.CharField(
                blank=True,
                help_text="HMAC-SHA256 over the event and prev_digest.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="record_organisation",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                help_text="The organisation holding the record, for a denied access "
                "(access.denied).",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="accounts.organisation",
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="subject_hash",
            field=models.CharField(
                blank=True,
                help_text="Keyed hash of a typed address that matched no account; never the "
                "address.",
                max_length=64,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("record_organisation__isnull", False)),
                fields=["record_organisation", "-at"],
                name="audit_event_record_org_idx",
            ),
        ),
    ]
