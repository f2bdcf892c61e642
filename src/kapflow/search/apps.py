from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "kapflow.search"
    label = "search"
    verbose_name = "Search"
