"""Existing tokens: read-write (what they could do), expiring 90 days after creation but not
sooner than 30 days after this migration, so integrations have time to get a new token.

MFA at creation is "verified" when the owner had a confirmed authenticator device created
before the token: the security page (the only place tokens were made) then required MFA, in
demo mode too. Otherwise "unknown", which is refused outside demo mode (decision 0034).
"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone


def backfill(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    floor = timezone.now() + timedelta(days=30)
    for token in ApiToken.objects.filter(expires_at__isnull=True).select_related("membership"):
        token.expires_at = max(token.created_at + timedelta(days=90), floor)
        enrolled_before = TOTPDevice.objects.filter(
            user_id=token.membership.user_id,
            confirmed=True,
            created_at__isnull=False,
            created_at__lte=token.created_at,
        ).exists()
        token.mfa = "verified" if enrolled_before else "unknown"
        token.save(update_fields=["expires_at", "mfa"])


def unfill(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.update(expires_at=None, mfa="unknown")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_apitoken_add_scope_mfa_expiry"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(backfill, unfill)]
