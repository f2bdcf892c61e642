"""Client and care-team forms. Errors are shown beside the named field."""

from django import forms

from kapflow.accounts.models import STATE_CHOICES
from kapflow.patients.models import CareTeamRole, Client
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
