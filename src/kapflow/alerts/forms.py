"""The reaction checklist and the acknowledgement form. The rules (what is required, which
readings are plausible) are the service's; these forms only collect and show errors."""

from django import forms

from kapflow.alerts.models import NOTE_MAX
from kapflow.clinical.reactions import SYMPTOMS


class ReactionForm(forms.Form):
    symptoms = forms.MultipleChoiceField(
        label="What is happening? Tick everything that applies.",
        choices=[(s.code, s.label) for s in SYMPTOMS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    bp_systolic = forms.IntegerField(
        label="Blood pressure: top number", required=False, help_text="Only if you measured it."
    )
    bp_diastolic = forms.IntegerField(
        label="Blood pressure: bottom number", required=False, help_text="Only if you measured it."
    )
    note = forms.CharField(
        label="Anything else, in your own words",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label="What did you do?",
        required=False,  # the service decides, so its message is the one shown
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: called the client; the companion called 911.",
    )
