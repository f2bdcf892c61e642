import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_accounts_initial"),
        ("courses", "0005_dueitem_open_by_code_index"),
        ("patients", "0002_client_search_trigram_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Alert",
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
                        choices=[("reaction", "Reaction report"), ("help_now", "Need help now")],
                        max_length=20,
                    ),
                ),
                (
                    "raised_by_role",
                    models.CharField(
                        choices=[("client", "The client"), ("companion", "The client's companion")],
                        max_length=20,
                    ),
                ),
                ("raised_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "answers",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='Reaction checklist: {"symptoms": [codes], "bp_systolic", "bp_diastolic"}.',
                    ),
                ),
                (
                    "note",
                    models.TextField(
                        blank=True, help_text="In the reporter's words.", max_length=2000
                    ),
                ),
                (
                    "severity",
                    models.CharField(
                        choices=[
                            ("emergency", "Emergency"),
                            ("urgent", "Urgent"),
                            ("routine", "Routine"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "reasons",
                    models.JSONField(
                        blank=True, default=list, help_text="The rule codes that set the severity."
                    ),
                ),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("acknowledgement_note", models.TextField(blank=True, max_length=2000)),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "client",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="alerts",
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
                    "organisation",
                    models.ForeignKey(
                        help_text="The client's practice.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
                (
                    "raised_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("acknowledged_at__isnull", True)),
                        fields=["organisation", "-raised_at", "-id"],
                        name="alert_open_by_org",
                    ),
                    models.Index(fields=["client", "-raised_at"], name="alert_client_raised"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("kind__in", ["reaction", "help_now"])),
                        name="alert_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("severity__in", ["emergency", "urgent", "routine"])),
                        name="alert_severity_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("raised_by_role__in", ["client", "companion"])),
                        name="alert_raised_by_role_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("acknowledged_at__isnull", True), ("acknowledged_by__isnull", True)
                            ),
                            models.Q(
                                ("acknowledged_at__isnull", False),
                                ("acknowledged_by__isnull", False),
                            ),
                            _connector="OR",
                        ),
                        name="alert_acknowledged_by_and_at",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "help_now"), _negated=True),
                            ("severity", "emergency"),
                            _connector="OR",
                        ),
                        name="alert_help_now_is_emergency",
                    ),
                ],
            },
        ),
    ]
