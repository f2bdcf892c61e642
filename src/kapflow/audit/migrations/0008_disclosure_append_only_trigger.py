"""Make audit_disclosure append-only on PostgreSQL, like the audit trail (decision 0037).

A staff member's record of a disclosure made outside kapflow is part of the client's
accounting (HIPAA 164.528) and is kept six years: the trigger refuses UPDATE and DELETE, and
`kapflow audit_db_role` leaves the runtime role only INSERT and SELECT on the table.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION kapflow_disclosure_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_disclosure is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_disclosure_append_only ON audit_disclosure;
CREATE TRIGGER audit_disclosure_append_only
    BEFORE UPDATE OR DELETE ON audit_disclosure
    FOR EACH ROW EXECUTE FUNCTION kapflow_disclosure_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_disclosure_append_only ON audit_disclosure;
DROP FUNCTION IF EXISTS kapflow_disclosure_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_auditevent_add_content_digest_disclosure")]

    operations = [migrations.RunPython(forwards, backwards)]
