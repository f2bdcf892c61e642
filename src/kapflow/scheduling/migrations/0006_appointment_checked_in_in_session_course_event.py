# The appointment is the encounter (decision 0054): two statuses between scheduled and
# completed, and the client's course event on their participant row.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("courses", "0009_coursefacts_add_dueitem_open_by_org"),
        ("scheduling", "0005_schedulingsettings_self_booking"),
    ]

    operations = [
        migrations.AlterField(
            model_name="appointment",
            name="status",
            field=models.CharField(
                choices=[
                    ("scheduled", "Scheduled"),
                    ("checked_in", "Checked in"),
                    ("in_session", "In session"),
                    ("completed", "Completed"),
                    ("cancelled", "Cancelled"),
                    ("no_show", "Did not attend"),
                    ("rescheduled", "Rescheduled"),
                ],
                default="scheduled",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="appointmentparticipant",
            name="course_event",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="appointment_participant",
                to="courses.courseevent",
            ),
        ),
    ]
