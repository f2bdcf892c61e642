"""Submitted questionnaire responses are immutable (PostgreSQL).

A trigger refuses UPDATE of a response once it is submitted, and DELETE of a submitted
response; a correction is a new row that references the old one. Drafts stay editable.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION kapflow_response_refuse_change() RETURNS trigger AS $$
BEGIN
    IF OLD.submitted_at IS NOT NULL THEN
        RAISE EXCEPTION 'assessments_response % is submitted and immutable: % refused',
            OLD.id, TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS assessments_response_immutable ON assessments_response;
CREATE TRIGGER assessments_response_immutable
    BEFORE UPDATE OR DELETE ON assessments_response
    FOR EACH ROW EXECUTE FUNCTION kapflow_response_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS assessments_response_immutable ON assessments_response;
DROP FUNCTION IF EXISTS kapflow_response_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("assessments", "0002_measurement_plan")]

    operations = [migrations.RunPython(forwards, backwards)]
