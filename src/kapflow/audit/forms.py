from django import forms

from kapflow.audit.models import EVENT_KINDS, DisclosurePurpose


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


class DisclosureForm(forms.Form):
    """A disclosure staff made outside kapflow. The service checks the rules (a date not in
    the future, a stated purpose for 'another purpose') and names the field at fault."""

    disclosed_on = forms.DateField(
        label="Date disclosed", widget=forms.DateInput(attrs={"type": "date"})
    )
    recipient = forms.CharField(
        label="Recipient (person and organisation)",
        max_length=200,
        help_text="For example: Claims department, Cascade Health Insurance.",
    )
    recipient_address = forms.CharField(
        label="Recipient's address, if known", max_length=300, required=False
    )
    purpose = forms.ChoiceField(label="Purpose", choices=DisclosurePurpose.choices)
    purpose_detail = forms.CharField(
        label="Statement of purpose",
        max_length=300,
        required=False,
        help_text="Required for another purpose (for example: a subpoena in a court case).",
    )
    what = forms.CharField(
        label="What was disclosed",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="In words the client will understand: visit dates, diagnoses, notes from …",
    )
    legal_basis = forms.CharField(
        label="Legal basis",
        max_length=300,
        help_text="The client's signed authorisation, a court order, a reporting law …",
    )


class VerifyForm(forms.Form):
    file = forms.FileField(label="Exported file", required=False)
    digest = forms.CharField(
        label="Or its SHA-256",
        max_length=120,
        required=False,
        help_text="64 hexadecimal digits, or the Repr-Digest value (sha-256=:…:).",
    )
