"""Move every authenticator seed and recovery code out of django-otp's plain tables.

Seeds go to AuthenticatorDevice, whose key column is encrypted with KAPFLOW_FIELD_KEYS (the
historical model uses the same field class); recovery codes go to RecoveryCode as hashes
(SHA-256 of the code without dashes, spaces or case, as kapflow.accounts.crypto.code_hash
computes it). The old rows are deleted. Sessions verified with an old device ask for a code
again. Reverse: seeds go back in plain text; hashed codes cannot, so people make new ones.
"""

import hashlib

from django.db import migrations

DEVICE_FIELDS = (
    "user_id", "name", "confirmed", "throttling_failure_timestamp", "throttling_failure_count",
    "created_at", "last_used_at",
)  # fmt: skip
TOTP_FIELDS = ("key", "step", "t0", "digits", "tolerance", "drift", "last_t")


def _hash(code: str) -> str:
    return hashlib.sha256("".join(code.split()).replace("-", "").lower().encode()).hexdigest()


def _copy_device(source, target_model, extra=()):
    target = target_model(**{f: getattr(source, f) for f in (*DEVICE_FIELDS, *extra)})
    target.save()
    # created_at is auto_now_add: keep the original enrolment time.
    target_model.objects.filter(pk=target.pk).update(created_at=source.created_at)
    return target


def encrypt(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    AuthenticatorDevice = apps.get_model("accounts", "AuthenticatorDevice")
    RecoveryCodeDevice = apps.get_model("accounts", "RecoveryCodeDevice")
    RecoveryCode = apps.get_model("accounts", "RecoveryCode")
    for device in TOTPDevice.objects.order_by("pk"):
        _copy_device(device, AuthenticatorDevice, TOTP_FIELDS)
    TOTPDevice.objects.all().delete()
    for device in StaticDevice.objects.order_by("pk"):
        target = _copy_device(device, RecoveryCodeDevice)
        RecoveryCode.objects.bulk_create(
            [RecoveryCode(device=target, code_hash=_hash(t.token)) for t in device.token_set.all()]
        )
    StaticDevice.objects.all().delete()


def decrypt(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    AuthenticatorDevice = apps.get_model("accounts", "AuthenticatorDevice")
    for device in AuthenticatorDevice.objects.order_by("pk"):
        _copy_device(device, TOTPDevice, TOTP_FIELDS)
    AuthenticatorDevice.objects.all().delete()
    apps.get_model("accounts", "RecoveryCodeDevice").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_authenticatordevice_recoverycode"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(encrypt, decrypt)]
