from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "kapflow.core"
    label = "core"
    verbose_name = "kapflow core"

    def ready(self):
        from kapflow.core.pdf_fonts import check_pdf_fonts

        checks.register(check_pdf_fonts)
