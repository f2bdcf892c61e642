import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0008_mfa_devices_encrypt"),
        ("assessments", "0006_urgenttask_typed_screens_and_reassessment"),
        ("notes", "0002_signed_notes_and_addenda_immutable"),
        ("patients", "0003_companion_checklist_and_checkins"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AmendmentRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "part",
                    models.CharField(
                        choices=[
                            (
                                "demographics",
                                "My personal details (name, date of birth, contact details)",
                            ),
                            ("assessment", "A questionnaire I answered"),
                            ("note", "A note from one of my sessions"),
                            ("other", "Something else"),
                        ],
                        max_length=20,
                    ),
                ),
                ("part_description", models.CharField(blank=True, max_length=300)),
                ("what_is_wrong", models.TextField(max_length=5000)),
                ("should_say", models.TextField(max_length=5000)),
                ("why", models.TextField(max_length=5000)),
                (
                    "tell_others",
                    models.CharField(
                        blank=True,
                        help_text="People the client wants told of an accepted amendment (164.526(c)(3)).",
                        max_length=500,
                    ),
                ),
                ("requested_at", models.DateTimeField()),
                (
                    "received_on",
                    models.DateField(help_text="The practice's clinical date of receipt."),
                ),
                ("due_on", models.DateField()),
                ("extended_at", models.DateTimeField(blank=True, null=True)),
                ("extension_reason", models.TextField(blank=True, max_length=5000)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("open", "Waiting for a decision"),
                            ("accepted", "Accepted"),
                            ("denied", "Denied"),
                        ],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decided_by_name", models.CharField(blank=True, max_length=200)),
                ("licence_type", models.CharField(blank=True, max_length=10)),
                ("licence_state", models.CharField(blank=True, max_length=2)),
                ("licence_number", models.CharField(blank=True, max_length=50)),
                (
                    "denial_basis",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("not_created_here", "Not created by this practice"),
                            ("not_in_record_set", "Not part of the designated record set"),
                            ("not_available_for_inspection", "Not available for inspection"),
                            ("accurate_and_complete", "Accurate and complete"),
                        ],
                        max_length=40,
                    ),
                ),
                (
                    "explanation",
                    models.TextField(
                        blank=True,
                        help_text="Required for a denial: why, in plain words.",
                        max_length=5000,
                    ),
                ),
                (
                    "amendment_text",
                    models.TextField(
                        blank=True,
                        help_text="Required for an acceptance: the amendment.",
                        max_length=5000,
                    ),
                ),
                ("disagreement", models.TextField(blank=True, max_length=5000)),
                ("disagreement_at", models.DateTimeField(blank=True, null=True)),
                ("rebuttal", models.TextField(blank=True, max_length=5000)),
                ("rebuttal_at", models.DateTimeField(blank=True, null=True)),
                ("rebuttal_by_name", models.CharField(blank=True, max_length=200)),
                (
                    "client",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="amendment_requests",
                        to="patients.client",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "extended_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "note",
                    models.ForeignKey(
                        blank=True,
                        help_text="The signed note the clinician identified as the part concerned.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="amendment_requests",
                        to="notes.note",
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
                    "rebuttal_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "response",
                    models.ForeignKey(
                        blank=True,
                        help_text="The questionnaire response, when the part is a questionnaire.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="amendment_requests",
                        to="assessments.response",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["organisation", "status", "due_on", "id"], name="amendment_queue"
                    ),
                    models.Index(
                        fields=["organisation", "client", "-requested_at", "-id"],
                        name="amendment_client_list",
                    ),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("part__in", ["demographics", "assessment", "note", "other"])
                        ),
                        name="amendment_part_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["open", "accepted", "denied"])),
                        name="amendment_status_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("denial_basis", ""),
                            (
                                "denial_basis__in",
                                [
                                    "not_created_here",
                                    "not_in_record_set",
                                    "not_available_for_inspection",
                                    "accurate_and_complete",
                                ],
                            ),
                            _connector="OR",
                        ),
                        name="amendment_denial_basis_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("part", "assessment"), ("response__isnull", False)),
                            models.Q(
                                models.Q(("part", "assessment"), _negated=True),
                                ("response__isnull", True),
                            ),
                            _connector="OR",
                        ),
                        name="amendment_response_matches_part",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("note__isnull", True), ("part__in", ["note", "other"]), _connector="OR"
                        ),
                        name="amendment_note_matches_part",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("due_on__gte", models.F("received_on"))),
                        name="amendment_due_after_receipt",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("extended_at__isnull", True),
                                ("extended_by__isnull", True),
                                ("extension_reason", ""),
                            ),
                            models.Q(
                                ("extended_at__isnull", False),
                                ("extended_by__isnull", False),
                                models.Q(("extension_reason", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="amendment_extension_complete",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("amendment_text", ""),
                                ("decided_at__isnull", True),
                                ("decided_by__isnull", True),
                                ("denial_basis", ""),
                                ("status", "open"),
                            ),
                            models.Q(
                                ("decided_at__isnull", False),
                                ("decided_by__isnull", False),
                                ("denial_basis", ""),
                                ("status", "accepted"),
                                models.Q(("amendment_text", ""), _negated=True),
                            ),
                            models.Q(
                                ("amendment_text", ""),
                                ("decided_at__isnull", False),
                                ("decided_by__isnull", False),
                                ("status", "denied"),
                                models.Q(("denial_basis", ""), _negated=True),
                                models.Q(("explanation", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="amendment_decision_matches_status",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("disagreement", ""), ("disagreement_at__isnull", True)),
                            models.Q(
                                ("disagreement_at__isnull", False),
                                ("status", "denied"),
                                models.Q(("disagreement", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="amendment_disagreement_after_denial",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("rebuttal", ""),
                                ("rebuttal_at__isnull", True),
                                ("rebuttal_by__isnull", True),
                            ),
                            models.Q(
                                ("disagreement_at__isnull", False),
                                ("rebuttal_at__isnull", False),
                                ("rebuttal_by__isnull", False),
                                models.Q(("rebuttal", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="amendment_rebuttal_after_disagreement",
                    ),
                ],
            },
        ),
    ]
