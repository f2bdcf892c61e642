from django import forms

from kapflow.audit.models import EVENT_KINDS


class AuditFilterForm(forms.Form):
    actor = forms.IntegerField(label="Actor (user number)", required=False, min_value=1)
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "All events"), *EVENT_KINDS.items()],
    )
    action = forms.CharField(label="Action starts with", required=False, max_length=60)
    client = forms.IntegerField(label="Client number", required=False, min_value=1)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
