"""Portal forms: naming a companion, the companion's checklist and check-ins."""

from django import forms

from kapflow.patients.services import COMPANION_CHECKLIST


class CompanionInviteForm(forms.Form):
    full_name = forms.CharField(label="Their name", max_length=200)
    email = forms.EmailField(label="Their e-mail address")
    relationship = forms.CharField(
        label="How you know them", max_length=100, help_text="For example: partner, friend."
    )
    date_of_birth = forms.DateField(
        label="Their date of birth", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Companions must be 18 or older.",
    )  # fmt: skip


class CompanionConfirmForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, text in COMPANION_CHECKLIST:
            self.fields[code] = forms.BooleanField(label=text, required=False)


class CompanionCheckinForm(forms.Form):
    state = forms.ChoiceField(
        label="How is the client right now?",
        choices=[
            ("settled", "Calm and settled"),
            ("restless", "Restless or uneasy"),
            ("distressed", "Distressed"),
            ("unresponsive", "Hard to rouse or not responding"),
        ],
        widget=forms.RadioSelect,
    )
    bp_systolic = forms.IntegerField(
        label="Blood pressure, top number (optional)", required=False, min_value=50, max_value=260
    )
    bp_diastolic = forms.IntegerField(
        label="Blood pressure, bottom number (optional)", required=False, min_value=30,
        max_value=160,
    )  # fmt: skip
    heart_rate = forms.IntegerField(
        label="Pulse (optional)", required=False, min_value=25, max_value=250
    )
    note = forms.CharField(label="Anything to add (optional)", required=False, max_length=500)
