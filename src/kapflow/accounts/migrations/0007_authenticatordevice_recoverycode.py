import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import kapflow.accounts.crypto
import kapflow.accounts.models


def _device_fields():
    return [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("name", models.CharField(help_text="The human-readable name of this device.", max_length=64)),
        ("confirmed", models.BooleanField(default=True, help_text="Is this device ready for use?")),
        ("throttling_failure_timestamp", models.DateTimeField(blank=True, default=None, help_text="A timestamp of the last failed verification attempt. Null if last attempt succeeded.", null=True)),
        ("throttling_failure_count", models.PositiveIntegerField(default=0, help_text="Number of successive failed attempts.")),
        ("created_at", models.DateTimeField(auto_now_add=True, help_text="The date and time when this device was initially created in the system.", null=True)),
        ("last_used_at", models.DateTimeField(blank=True, help_text="The most recent date and time this device was used.", null=True)),
        ("user", models.ForeignKey(help_text="The user that this device belongs to.", on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
    ]  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_apitoken_require_expiry"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthenticatorDevice",
            fields=[
                *_device_fields(),
                (
                    "key",
                    kapflow.accounts.crypto.EncryptedTextField(
                        default=kapflow.accounts.models.totp_default_key
                    ),
                ),
                ("step", models.PositiveSmallIntegerField(default=30)),
                ("t0", models.BigIntegerField(default=0)),
                ("digits", models.PositiveSmallIntegerField(default=6)),
                ("tolerance", models.PositiveSmallIntegerField(default=1)),
                ("drift", models.SmallIntegerField(default=0)),
                ("last_t", models.BigIntegerField(default=-1)),
            ],  # fmt: skip
            options={"verbose_name": "TOTP device", "abstract": False},
        ),
        migrations.CreateModel(
            name="RecoveryCodeDevice",
            fields=_device_fields(),
            options={"verbose_name": "recovery code set", "abstract": False},
        ),
        migrations.CreateModel(
            name="RecoveryCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code_hash", models.CharField(db_index=True, max_length=64)),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="codes",
                        to="accounts.recoverycodedevice",
                    ),
                ),
            ],  # fmt: skip
        ),
    ]
