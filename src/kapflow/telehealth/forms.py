from django import forms

CHOICES = [
    ("room", "kapflow's session room (video beside the session record)"),
    ("external", "Our own video link, entered on each appointment"),
]


class TelehealthSettingsForm(forms.Form):
    video = forms.ChoiceField(
        label="Telehealth appointments meet in", choices=CHOICES, widget=forms.RadioSelect
    )
