"""The journal entry form: kind, the dosing session it is about, the text, and sharing."""

from django import forms
from django.utils import timezone

from kapflow.journal.models import BODY_MAX, EntryKind


def session_label(event) -> str:
    return f"Dosing session on {timezone.localtime(event.occurred_at):%Y-%m-%d}"


class EntryForm(forms.Form):
    kind = forms.ChoiceField(
        label="What kind of entry is this?", choices=EntryKind.choices, widget=forms.RadioSelect
    )
    dosing_event = forms.TypedChoiceField(
        label="Which dosing session is it about?",
        coerce=int,
        empty_value=None,
        required=False,
    )
    body = forms.CharField(
        label="Your entry",
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=f"Up to {BODY_MAX:,} characters.",
    )
    shared = forms.BooleanField(
        label="Share this entry with my therapist",
        required=False,
        help_text="Leave unticked to keep it private. You can change this later.",
    )

    def __init__(self, *args, sessions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dosing_event"].choices = [("", "Not about one session")] + [
            (event.pk, session_label(event)) for event in sessions
        ]
