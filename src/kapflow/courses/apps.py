from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _facts_fill(sender, using, **kwargs):
    """After migrate: store the facts of courses that have none (the table is new, or rows
    came from a restore); a no-op query when every course has them (decision 0042)."""
    from django.db import connections, transaction

    from kapflow.courses.models import CourseFacts
    from kapflow.courses.services import course_facts_refresh

    connection = connections[using]
    if CourseFacts._meta.db_table not in connection.introspection.table_names():
        return
    with transaction.atomic(using=using):
        course_facts_refresh(missing=True)


class CoursesConfig(AppConfig):
    name = "kapflow.courses"
    label = "courses"
    verbose_name = "Courses of care"

    def ready(self):
        post_migrate.connect(_facts_fill, sender=self, dispatch_uid="courses.facts_fill")
