"""Every audit row must carry its digests (decision 0033); 0005 chained the old ones."""

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_auditevent_backfill_chain")]

    operations = [
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    django.db.models.lookups.Exact(
                        django.db.models.functions.text.Length("digest"), 64
                    ),
                    django.db.models.lookups.Exact(
                        django.db.models.functions.text.Length("prev_digest"), 64
                    ),
                ),
                name="audit_event_chained",
            ),
        ),
    ]
