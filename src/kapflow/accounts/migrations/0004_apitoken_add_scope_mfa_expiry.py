from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_time_zones")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="mfa",
            field=models.CharField(
                choices=[
                    ("verified", "After MFA"),
                    ("demo_skipped", "Demo mode, without MFA"),
                    ("unknown", "Unknown (made before this was recorded)"),
                ],
                default="unknown",
                max_length=12,
                verbose_name="MFA at creation",
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[("read", "Read only"), ("read_write", "Read and write")],
                default="read_write",
                max_length=12,
            ),
        ),
    ]
