from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "kapflow.notifications"
    label = "notifications"
    verbose_name = "In-app notifications"
