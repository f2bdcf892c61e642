"""Amendment requests keep what was asked and each stage once written (PostgreSQL).

A trigger on amendments_amendmentrequest refuses DELETE, any change to the request itself,
and any change to a stage already written: the extension once extended_at is set, the
decision (and the note it names) once decided_at is set, the statement of disagreement once
disagreement_at is set, the rebuttal once rebuttal_at is set. The CHECK constraints already
say a stage is written whole. SQLite (the demo engine) gets no trigger; the services refuse
the same changes.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION kapflow_amendment_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'amendments_amendmentrequest % is part of the record: DELETE refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.organisation_id, NEW.client_id, NEW.part, NEW.response_id, NEW.part_description,
        NEW.what_is_wrong, NEW.should_say, NEW.why, NEW.tell_others, NEW.requested_at,
        NEW.requested_by_id, NEW.received_on)
       IS DISTINCT FROM
       (OLD.organisation_id, OLD.client_id, OLD.part, OLD.response_id, OLD.part_description,
        OLD.what_is_wrong, OLD.should_say, OLD.why, OLD.tell_others, OLD.requested_at,
        OLD.requested_by_id, OLD.received_on)
    THEN
        RAISE EXCEPTION 'amendments_amendmentrequest % request is immutable: UPDATE refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.extended_at IS NOT NULL AND
       (NEW.extended_at, NEW.extended_by_id, NEW.extension_reason, NEW.due_on)
       IS DISTINCT FROM (OLD.extended_at, OLD.extended_by_id, OLD.extension_reason, OLD.due_on)
    THEN
        RAISE EXCEPTION 'amendments_amendmentrequest % extension is immutable: UPDATE refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.decided_at IS NOT NULL AND
       (NEW.status, NEW.note_id, NEW.decided_at, NEW.decided_by_id, NEW.decided_by_name,
        NEW.licence_type, NEW.licence_state, NEW.licence_number, NEW.denial_basis,
        NEW.explanation, NEW.amendment_text, NEW.due_on, NEW.extended_at)
       IS DISTINCT FROM
       (OLD.status, OLD.note_id, OLD.decided_at, OLD.decided_by_id, OLD.decided_by_name,
        OLD.licence_type, OLD.licence_state, OLD.licence_number, OLD.denial_basis,
        OLD.explanation, OLD.amendment_text, OLD.due_on, OLD.extended_at)
    THEN
        RAISE EXCEPTION 'amendments_amendmentrequest % decision is immutable: UPDATE refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.disagreement_at IS NOT NULL AND
       (NEW.disagreement, NEW.disagreement_at)
       IS DISTINCT FROM (OLD.disagreement, OLD.disagreement_at)
    THEN
        RAISE EXCEPTION 'amendments_amendmentrequest % statement is immutable: UPDATE refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.rebuttal_at IS NOT NULL AND
       (NEW.rebuttal, NEW.rebuttal_at, NEW.rebuttal_by_id, NEW.rebuttal_by_name)
       IS DISTINCT FROM (OLD.rebuttal, OLD.rebuttal_at, OLD.rebuttal_by_id, OLD.rebuttal_by_name)
    THEN
        RAISE EXCEPTION 'amendments_amendmentrequest % rebuttal is immutable: UPDATE refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS amendments_request_immutable ON amendments_amendmentrequest;
CREATE TRIGGER amendments_request_immutable
    BEFORE UPDATE OR DELETE ON amendments_amendmentrequest
    FOR EACH ROW EXECUTE FUNCTION kapflow_amendment_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS amendments_request_immutable ON amendments_amendmentrequest;
DROP FUNCTION IF EXISTS kapflow_amendment_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("amendments", "0001_amendmentrequest")]

    operations = [migrations.RunPython(forwards, backwards)]
