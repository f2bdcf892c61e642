"""Signed eligibility decisions are immutable (PostgreSQL).

A trigger refuses UPDATE and DELETE of a decision: the decision, its reason and the findings
the prescriber saw stay as signed. A new decision is a new row.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION kapflow_decision_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'prescriptions_eligibilitydecision % is signed and immutable: % refused',
        OLD.id, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS prescriptions_decision_immutable ON prescriptions_eligibilitydecision;
CREATE TRIGGER prescriptions_decision_immutable
    BEFORE UPDATE OR DELETE ON prescriptions_eligibilitydecision
    FOR EACH ROW EXECUTE FUNCTION kapflow_decision_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS prescriptions_decision_immutable ON prescriptions_eligibilitydecision;
DROP FUNCTION IF EXISTS kapflow_decision_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("prescriptions", "0001_prescriptions_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
