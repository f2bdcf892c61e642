import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_accounts_initial"),
        ("courses", "0005_dueitem_open_by_code_index"),
        ("patients", "0002_client_search_trigram_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="JournalEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("intention", "Intention (before a dosing session)"),
                            ("integration", "Integration (after a dosing session)"),
                            ("reflection", "Reflection"),
                        ],
                        max_length=20,
                    ),
                ),
                ("body", models.TextField(max_length=20000)),
                (
                    "shared",
                    models.BooleanField(
                        default=False, help_text="Shared with the therapist; private when off."
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "shared_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When it was last shared; empty while private.",
                        null=True,
                    ),
                ),
                (
                    "client",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="journal_entries",
                        to="patients.client",
                    ),
                ),
                (
                    "course",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="courses.course",
                    ),
                ),
                (
                    "dosing_event",
                    models.ForeignKey(
                        blank=True,
                        help_text="The dosing session the entry is about.",
                        limit_choices_to={"kind": "dosing"},
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="courses.courseevent",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        help_text="The client's practice.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "journal entries",
                "indexes": [
                    models.Index(
                        fields=["organisation", "client", "-created_at", "-id"],
                        name="journal_entry_client_list",
                    ),
                    models.Index(
                        condition=models.Q(("shared", True)),
                        fields=["course", "-created_at", "-id"],
                        name="journal_entry_shared_course",
                    ),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("kind__in", ["intention", "integration", "reflection"])
                        ),
                        name="journal_entry_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("shared", True), ("shared_at__isnull", False)),
                            models.Q(("shared", False), ("shared_at__isnull", True)),
                            _connector="OR",
                        ),
                        name="journal_entry_shared_at_matches",
                    ),
                ],
            },
        ),
    ]
