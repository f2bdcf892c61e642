from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "kapflow.notes"
    label = "notes"
    verbose_name = "Clinical notes"
