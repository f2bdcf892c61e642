"""Consent documents, signatures and withdrawals are immutable (PostgreSQL).

A trigger refuses UPDATE and DELETE on the three tables: the text a client signed, the
signature with its metadata, and a withdrawal stay as written. A new version of a document
is a new row; consenting again after a withdrawal is a new signature.
"""

from django.db import migrations

TABLES = ["consents_consentdocument", "consents_consentsignature", "consents_consentwithdrawal"]

FUNCTION = """
CREATE OR REPLACE FUNCTION kapflow_consent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% % is a consent record and immutable: % refused',
        TG_TABLE_NAME, OLD.id, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER = """
DROP TRIGGER IF EXISTS {table}_immutable ON {table};
CREATE TRIGGER {table}_immutable
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION kapflow_consent_refuse_change();
"""

DROP_TRIGGER = "DROP TRIGGER IF EXISTS {table}_immutable ON {table};"
DROP_FUNCTION = "DROP FUNCTION IF EXISTS kapflow_consent_refuse_change();"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(TRIGGER.format(table=table), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(DROP_TRIGGER.format(table=table), params=None)
        schema_editor.execute(DROP_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("consents", "0001_consents_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
