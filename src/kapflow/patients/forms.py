"""Client and care-team forms. Errors are shown beside the named field."""

from django import forms

from kapflow.accounts.models import STATE_CHOICES
from kapflow.patients.models import (
    EMERGENCY_DEFAULT_MINUTES,
    EMERGENCY_EXPLANATION_MAX,
    CareTeamRole,
    Client,
    EmergencyReason,
)
from kapflow.patients.services import CLIENT_FIELDS


class ClientForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = list(CLIENT_FIELDS)
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }

    def _post_clean(self):
        # Model validation runs in the service (full_clean inside the transaction).
        pass


class ClientCreateForm(ClientForm):
    """A new client, and their portal invitation in the same press when an e-mail is given."""

    invite = forms.BooleanField(
        required=False, initial=True,
        label="Invite to the client portal (sent to the e-mail above)",
    )  # fmt: skip


class ClientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search by name, email or client number", required=False, max_length=100
    )
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "All states"), *STATE_CHOICES]
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            ("name", "Last name A–Z"),
            ("-name", "Last name Z–A"),
            ("newest", "Newest first"),
            ("dob", "Oldest first"),
            ("-dob", "Youngest first"),
            ("state", "State"),
        ],
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class CareTeamAddForm(forms.Form):
    membership = forms.ChoiceField(label="Clinician")
    role = forms.ChoiceField(label="Role on the team", choices=CareTeamRole.choices)
    is_primary = forms.BooleanField(label="Primary for this role", required=False)
    acknowledge_warnings = forms.BooleanField(
        label="I have read the licensure warning and still assign this clinician",
        required=False,
    )

    def __init__(self, *args, clinicians=(), show_acknowledge=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not show_acknowledge:
            # Offered only once a licensure warning has been shown.
            self.fields["acknowledge_warnings"].widget = forms.HiddenInput()
        self.fields["membership"].choices = [("", "Choose…")] + [
            (m.pk, f"{m.user} — {m.organisation.name} ({', '.join(m.role_labels())})")
            for m in clinicians
        ]


class CareTeamRemoveForm(forms.Form):
    member_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label="Reason", max_length=500)


class EmergencyAccessForm(forms.Form):
    """Who (an exact identity, never a partial search) and why. Required fields are checked
    by the service, so the page and the rules give the same messages."""

    date_of_birth = forms.DateField(
        label="Date of birth", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    last_name = forms.CharField(
        label="Legal last name", required=False, max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip
    first_name = forms.CharField(
        label="First name (legal or preferred)", required=False, max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip
    client_number = forms.IntegerField(
        label="Or the client number", required=False, min_value=1, max_value=2**62
    )
    reason_code = forms.ChoiceField(
        label="Reason", required=False, choices=EmergencyReason.choices, widget=forms.RadioSelect
    )
    explanation = forms.CharField(
        label="What is happening", required=False, max_length=EMERGENCY_EXPLANATION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
    minutes = forms.TypedChoiceField(
        label="For how long",
        coerce=int,
        initial=EMERGENCY_DEFAULT_MINUTES,
        choices=[(30, "30 minutes"), (60, "1 hour"), (120, "2 hours"), (240, "4 hours")],
    )


class EmergencyNoteForm(forms.Form):
    """The admin's note when reviewing or revoking an emergency access."""

    note = forms.CharField(
        label="Note", max_length=EMERGENCY_EXPLANATION_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )
