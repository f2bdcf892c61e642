"""Note forms: choosing a template, the sections of a draft (built from its template), the
typed signature, an addendum, and a supervision pair. Limits are checked again by services."""

from django import forms

from kapflow.clinical.notes import SECTION_MAX, note_template
from kapflow.notes.models import ADDENDUM_MAX, NoteFormat, NoteKind, SessionType


class NoteNewForm(forms.Form):
    session_type = forms.ChoiceField(label="Session", choices=SessionType.choices)
    format = forms.ChoiceField(
        label="Format",
        choices=NoteFormat.choices,
        initial=NoteFormat.SOAP,
        widget=forms.RadioSelect,
    )
    kind = forms.ChoiceField(
        label="Kind of note",
        choices=NoteKind.choices,
        initial=NoteKind.PROGRESS,
        widget=forms.RadioSelect,
        help_text=(
            "A psychotherapy note holds your process notes apart from the record: only you "
            "and your supervisor can read it, and it is never released in a records request."
        ),
    )
    session_date = forms.DateField(
        label="Session date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty for the appointment's day, or today.",
    )

    def __init__(self, *args, session_types=None, kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if session_types is not None:
            self.fields["session_type"].choices = [
                (value, label) for value, label in SessionType.choices if value in session_types
            ]
        if kinds is not None:
            self.fields["kind"].choices = [
                (value, label) for value, label in NoteKind.choices if value in kinds
            ]


def section_field_name(key: str) -> str:
    return f"section_{key}"


class SectionsForm(forms.Form):
    """One textarea per section of the note's template, in template order."""

    version = forms.IntegerField(
        widget=forms.HiddenInput(attrs={"id": "note-version"}), min_value=1
    )

    def __init__(self, *args, note, **kwargs):
        super().__init__(*args, **kwargs)
        self.template = note_template(note.session_type, note.format)
        for section in self.template.sections:
            self.fields[section_field_name(section.key)] = forms.CharField(
                label=section.label + ("" if section.required else " (optional)"),
                required=False,
                max_length=SECTION_MAX,
                strip=False,
                help_text=section.prompt,
                initial=note.sections.get(section.key, ""),
                widget=forms.Textarea(attrs={"rows": 6}),
            )
        self.fields["version"].initial = note.version

    def sections(self) -> dict[str, str]:
        return {
            s.key: self.cleaned_data.get(section_field_name(s.key), "")
            for s in self.template.sections
        }


class SignatureForm(forms.Form):
    signature_name = forms.CharField(
        label="Type your full name to sign",
        max_length=200,
        help_text="Signing locks the note. Later changes can only be dated addenda.",
    )


class AddendumForm(forms.Form):
    text = forms.CharField(
        label="Addendum",
        max_length=ADDENDUM_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Dated and signed with your name; it cannot be changed afterwards.",
    )


class SupervisionForm(forms.Form):
    supervisee = forms.TypedChoiceField(label="Supervised clinician", coerce=int)
    supervisor = forms.TypedChoiceField(label="Supervisor", coerce=int)

    def __init__(self, *args, clinicians=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Choose a clinician")] + [
            (m.pk, m.user.full_name or m.user.email) for m in clinicians
        ]
        self.fields["supervisee"].choices = choices
        self.fields["supervisor"].choices = choices
