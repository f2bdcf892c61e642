from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "kapflow.core"
    label = "core"
    verbose_name = "kapflow core"

    def ready(self):
        from django.core.signals import got_request_exception
        from django.db.models.signals import post_migrate

        from kapflow.core import sqlite
        from kapflow.core.pdf_fonts import check_pdf_fonts

        checks.register(check_pdf_fonts)
        # SQLite care (decision 0043): statistics after every migrate (sent once per app, so
        # connected for this one only), and the signs of having outgrown SQLite.
        checks.register(sqlite.check_sqlite_outgrown)
        post_migrate.connect(
            sqlite.optimize_after_migrate, sender=self, dispatch_uid="kapflow_sqlite_optimize"
        )
        got_request_exception.connect(
            sqlite.on_request_exception, dispatch_uid="kapflow_sqlite_lock_timeout"
        )
