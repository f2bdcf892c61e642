"""Trigram indexes for client search on PostgreSQL.

Search is `icontains` over four columns, which Django renders as
UPPER(col::text) LIKE UPPER('%term%'): a sequential scan at 100,000 clients. GIN trigram
indexes on exactly those expressions let PostgreSQL answer it from the index. pg_trgm ships
with PostgreSQL; creating the extension needs a role allowed to (CI and the demo run as the
owner). SQLite, the demo engine, keeps the scan.
"""

from django.db import migrations

COLUMNS = ["legal_last_name", "legal_first_name", "preferred_name", "email"]

CREATE = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
    f"CREATE INDEX IF NOT EXISTS client_{c}_trgm ON patients_client "
    f'USING gin ((UPPER("{c}"::text)) gin_trgm_ops)'
    for c in COLUMNS
]
DROP = [f"DROP INDEX IF EXISTS client_{c}_trgm" for c in COLUMNS]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_patients_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
