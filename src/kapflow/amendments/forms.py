"""Forms for amendment requests: the client's request and statement of disagreement, and the
clinician's extension, acceptance, denial and rebuttal. The services check every rule again;
these only shape the input."""

from django import forms
from django.utils import timezone

from kapflow.amendments.models import (
    PART_DESCRIPTION_MAX,
    TELL_OTHERS_MAX,
    TEXT_MAX,
    DenialBasis,
    RecordPart,
)


def _text(label: str, *, required: bool = True, rows: int = 5, help_text: str = ""):
    return forms.CharField(
        label=label,
        required=required,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": rows}),
        help_text=help_text or f"Up to {TEXT_MAX:,} characters.",
    )


def _answer(label: str):
    # Required, but checked by the service, so that every missing answer (and the part's
    # description, which depends on the part) is named in one go, in the API's words.
    return forms.CharField(
        label=label,
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 5, "aria-required": "true"}),
        help_text=f"Required. Up to {TEXT_MAX:,} characters.",
    )


def response_label(response) -> str:
    from kapflow.clinical.instruments import REGISTRY

    instrument = REGISTRY.get(response.instrument)
    name = instrument.name if instrument else response.instrument
    return f"{name}, answered {timezone.localtime(response.submitted_at):%Y-%m-%d}"


def note_label(note) -> str:
    return f"{note.get_session_type_display()} note, session of {note.session_date:%Y-%m-%d}"


class RequestForm(forms.Form):
    part = forms.ChoiceField(
        label="Which part of your record is it about?",
        choices=RecordPart.choices,
        widget=forms.RadioSelect,
    )
    response_id = forms.TypedChoiceField(
        label="Which questionnaire?",
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Only when it is about a questionnaire you answered.",
    )
    part_description = forms.CharField(
        label="Which part exactly?",
        required=False,
        max_length=PART_DESCRIPTION_MAX,
        help_text="For a session note, the date of the session, roughly. For something else, "
        "what it is. For your details, which detail.",
    )
    what_is_wrong = _answer("What is wrong or missing?")
    should_say = _answer("What should it say?")
    why = _answer("Why should it change?")
    tell_others = forms.CharField(
        label="Anyone else who should be told (optional)",
        required=False,
        max_length=TELL_OTHERS_MAX,
        help_text="For example another doctor who has this information. If the practice agrees "
        "to the change, it will tell them.",
    )

    def __init__(self, *args, responses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["response_id"].choices = [("", "Not about a questionnaire")] + [
            (r.pk, response_label(r)) for r in responses
        ]


class DisagreementForm(forms.Form):
    statement = _text(
        "Your statement of disagreement",
        rows=8,
        help_text="Say why you disagree with the decision. It will be kept with your record and "
        f"shown wherever that part is shown. Up to {TEXT_MAX:,} characters.",
    )


class ExtensionForm(forms.Form):
    reason = _text(
        "Why is more time needed?",
        help_text="The client is sent this reason with the new due date.",
    )


class _NoteChoice(forms.Form):
    note_id = forms.TypedChoiceField(
        label="The signed note concerned",
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Required to accept a request about a session note.",
    )

    def __init__(self, *args, notes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note_id"].choices = [("", "No particular note")] + [
            (n.pk, note_label(n)) for n in notes
        ]


class AcceptForm(_NoteChoice):
    amendment_text = _text(
        "The amendment, as it will appear in the record",
        rows=6,
        help_text="Shown with the part of the record it concerns; the original is not changed.",
    )
    explanation = _text("Message to the client (optional)", required=False, rows=3)

    field_order = ["amendment_text", "note_id", "explanation"]


class DenyForm(_NoteChoice):
    denial_basis = forms.ChoiceField(
        label="Ground for the denial (45 CFR 164.526(a)(2))",
        choices=DenialBasis.choices,
        widget=forms.RadioSelect,
    )
    explanation = _text(
        "Explanation for the client",
        rows=5,
        help_text="In plain words: the client reads it with the ground.",
    )

    field_order = ["denial_basis", "explanation", "note_id"]


class RebuttalForm(forms.Form):
    rebuttal = _text(
        "Rebuttal to the client's statement",
        help_text="Kept with the record; the client is sent a copy.",
    )
