from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from kapflow.audit.dbrole import runtime_role_sql


class Command(BaseCommand):
    help = (
        "Print (or, with --apply, run as the table owner) the grants for the runtime database "
        "role: DML everywhere, only INSERT and SELECT on the audit tables. PostgreSQL only. "
        "Create the role first (CREATE ROLE kapflow_app LOGIN PASSWORD '...'), and run this "
        "again after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", default="kapflow_app")
        parser.add_argument("--schema", default="public")
        parser.add_argument("--apply", action="store_true")

    def handle(self, *args, role, schema, apply, **options):
        try:
            statements = runtime_role_sql(role, schema=schema)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not apply:
            self.stdout.write(";\n".join(statements) + ";")
            return
        if connection.vendor != "postgresql":
            raise CommandError("The runtime role is a PostgreSQL feature.")
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"Granted the runtime privileges to {role} in schema {schema}.")
