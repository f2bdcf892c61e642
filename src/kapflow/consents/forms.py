"""Forms for publishing a consent document, signing one and withdrawing consent. They check
shapes; kapflow.consents.services checks the rules and names the field at fault."""

from django import forms

from kapflow.consents.models import ConsentKind


class PublishForm(forms.Form):
    kind = forms.ChoiceField(label="Document", choices=ConsentKind.choices)
    title = forms.CharField(label="Title", max_length=200)
    change_summary = forms.CharField(
        label="What changed (shown to clients who signed an earlier version)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    body = forms.CharField(
        label="Full text",
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 16}),
        help_text="Plain text; blank lines separate paragraphs.",
    )


class SignForm(forms.Form):
    understood = forms.BooleanField(
        label="I have read and understood this document, and I agree to it", required=False
    )
    typed_name = forms.CharField(
        label="Type your full name to sign",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    signed_on = forms.DateField(
        label="Date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "readonly": True}),
    )
    # Filled by kapflow/signature.js when the client draws; the page works without it.
    drawn_signature = forms.CharField(required=False, widget=forms.HiddenInput)


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
