"""Signed notes and addenda are immutable (PostgreSQL).

A trigger on notes_note refuses DELETE of a signed note, and UPDATE of a signed note unless
only the co-signature columns change, once, from empty (the supervisor's co-sign). Drafts
stay editable and deletable. A trigger on notes_addendum refuses every UPDATE and DELETE.
SQLite (the demo engine) gets no trigger; the services refuse the same changes.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION kapflow_note_refuse_change() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'signed' THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'notes_note % is signed and immutable: DELETE refused', OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF (NEW.organisation_id, NEW.client_id, NEW.course_id, NEW.appointment_id,
            NEW.session_type, NEW.format, NEW.kind, NEW.session_date, NEW.sections,
            NEW.status, NEW.author_id, NEW.author_user_id, NEW.created_at, NEW.updated_at,
            NEW.version, NEW.signed_at, NEW.signed_by_id, NEW.signature_name,
            NEW.content_sha256, NEW.cosign_required)
           IS DISTINCT FROM
           (OLD.organisation_id, OLD.client_id, OLD.course_id, OLD.appointment_id,
            OLD.session_type, OLD.format, OLD.kind, OLD.session_date, OLD.sections,
            OLD.status, OLD.author_id, OLD.author_user_id, OLD.created_at, OLD.updated_at,
            OLD.version, OLD.signed_at, OLD.signed_by_id, OLD.signature_name,
            OLD.content_sha256, OLD.cosign_required)
        THEN
            RAISE EXCEPTION 'notes_note % is signed and immutable: UPDATE refused', OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- The co-signature may be set once, and never changed or removed afterwards.
        IF (NEW.cosigned_at, NEW.cosigned_by_id, NEW.cosign_name)
           IS DISTINCT FROM (OLD.cosigned_at, OLD.cosigned_by_id, OLD.cosign_name)
           AND (OLD.cosigned_at IS NOT NULL OR NOT OLD.cosign_required
                OR NEW.cosigned_at IS NULL OR NEW.cosigned_by_id IS NULL)
        THEN
            RAISE EXCEPTION 'notes_note % co-signature is immutable: UPDATE refused', OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS notes_note_signed_immutable ON notes_note;
CREATE TRIGGER notes_note_signed_immutable
    BEFORE UPDATE OR DELETE ON notes_note
    FOR EACH ROW EXECUTE FUNCTION kapflow_note_refuse_change();

CREATE OR REPLACE FUNCTION kapflow_addendum_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'notes_addendum % is immutable: % refused', OLD.id, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS notes_addendum_immutable ON notes_addendum;
CREATE TRIGGER notes_addendum_immutable
    BEFORE UPDATE OR DELETE ON notes_addendum
    FOR EACH ROW EXECUTE FUNCTION kapflow_addendum_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS notes_addendum_immutable ON notes_addendum;
DROP FUNCTION IF EXISTS kapflow_addendum_refuse_change();
DROP TRIGGER IF EXISTS notes_note_signed_immutable ON notes_note;
DROP FUNCTION IF EXISTS kapflow_note_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_notes_supervision_addenda")]

    operations = [migrations.RunPython(forwards, backwards)]
