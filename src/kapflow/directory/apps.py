from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "kapflow.directory"
    label = "directory"
    verbose_name = "Public directory"
