"""Make the audit table append-only on PostgreSQL (HIPAA 164.312(b)).

A trigger refuses UPDATE and DELETE on audit_auditevent. TRUNCATE is left to the database
owner (test teardown uses it); the application role in production should not hold TRUNCATE.
SQLite has no such guard: it is the single-practice demo engine.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION kapflow_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION kapflow_audit_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS kapflow_audit_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_auditevent_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
