from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "kapflow.dashboard"
    label = "dashboard"
    verbose_name = "Home dashboards"
