"""Forms of the session screen: one per kind of entry, small and keyboard-first. They only
parse input; the services validate the rules and name the field at fault."""

import datetime

from django import forms
from django.utils import timezone

from kapflow.core import clock
from kapflow.courses.forms import DosingStartForm, override_fields, overrides_from
from kapflow.encounters.models import (
    CHECKLIST_ITEMS,
    DoseUnit,
    EntrySource,
    EventType,
    GroupKind,
    Route,
    SessionSettings,
)
from kapflow.encounters.services import CHECK_STATES


def _number(label, low, high, **attrs):
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", **attrs}),
    )


class TimeOfDayField(forms.TimeField):
    """A time typed as HH:MM in the viewer's zone, meaning today (or yesterday, when that
    time today is still ahead: an entry typed just after midnight)."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            label="Time (blank: now)",
            widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            **kwargs,
        )


def when(value: datetime.time | None) -> datetime.datetime | None:
    if value is None:
        return None
    # A time typed by the viewer is on the viewer's day, in the viewer's zone.
    now = timezone.localtime()
    at = timezone.make_aware(datetime.datetime.combine(clock.viewer_today(now), value))
    if at > now + datetime.timedelta(minutes=1):
        at -= datetime.timedelta(days=1)
    return at


class VitalsFields(forms.Form):
    bp_systolic = _number("Systolic (mmHg)", 40, 300, autofocus=True)
    bp_diastolic = _number("Diastolic (mmHg)", 20, 200)
    heart_rate = _number("Heart rate (bpm)", 20, 250)
    spo2 = _number("SpO2 (%)", 50, 100)


class StartForm(VitalsFields):
    alcohol_free_24h = forms.BooleanField(required=False, label="No alcohol in the last 24 hours")
    driver_confirmed = forms.BooleanField(
        required=False, label="In person: a driver is confirmed to take the client home"
    )
    companion_present = forms.BooleanField(
        required=False, label="At home: the companion is physically present"
    )
    override_codes = DosingStartForm.base_fields["override_codes"]
    override_category = DosingStartForm.base_fields["override_category"]
    override_rationale = DosingStartForm.base_fields["override_rationale"]
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        override_fields(self)

    def clean(self):
        """The override fields become `overrides` (code -> Justification) for the service."""
        cleaned = super().clean()
        cleaned["overrides"] = overrides_from(cleaned)
        for name in ("override_codes", "override_category", "override_rationale"):
            cleaned.pop(name, None)
        return cleaned


class VitalsForm(VitalsFields):
    source = forms.TypedChoiceField(
        choices=EntrySource.choices, initial=EntrySource.CLINICIAN, required=False,
        empty_value=EntrySource.CLINICIAN, label="Read by",
    )  # fmt: skip
    time = TimeOfDayField()


class DoseForm(forms.Form):
    route = forms.ChoiceField(choices=Route.choices, initial=Route.SUBLINGUAL)
    amount = forms.DecimalField(
        min_value=0, max_value=2000, decimal_places=2, max_digits=7, label="Amount",
        widget=forms.NumberInput(attrs={"autofocus": True, "inputmode": "decimal", "step": "any"}),
    )  # fmt: skip
    unit = forms.ChoiceField(choices=DoseUnit.choices, initial=DoseUnit.MG)
    time = TimeOfDayField()


class EventForm(forms.Form):
    event_type = forms.ChoiceField(choices=EventType.choices, label="Event")
    intervention = forms.CharField(required=False, max_length=2000, label="Intervention")
    text = forms.CharField(required=False, max_length=2000, label="Details")
    time = TimeOfDayField()


class TextForm(forms.Form):
    text = forms.CharField(
        max_length=2000, label="Text", widget=forms.TextInput(attrs={"autofocus": True})
    )
    time = TimeOfDayField()


ENTRY_FORMS = {
    "vitals": VitalsForm,
    "dose": DoseForm,
    "event": EventForm,
    "observation": TextForm,
    "intervention": TextForm,
    "note": TextForm,
}


class CorrectForm(forms.Form):
    """A correction: the replacement values of the old entry's kind, or a strike-through."""

    reason = forms.CharField(max_length=2000, label="Why (required)")
    strike = forms.BooleanField(required=False, label="Strike the entry through (no replacement)")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    bp_systolic = _number("Systolic (mmHg)", 40, 300)
    bp_diastolic = _number("Diastolic (mmHg)", 20, 200)
    heart_rate = _number("Heart rate (bpm)", 20, 250)
    spo2 = _number("SpO2 (%)", 50, 100)
    route = forms.ChoiceField(choices=[("", "—"), *Route.choices], required=False)
    amount = forms.DecimalField(required=False, min_value=0, max_value=2000, max_digits=7,
                                decimal_places=2)  # fmt: skip
    unit = forms.ChoiceField(choices=DoseUnit.choices, required=False)
    event_type = forms.ChoiceField(choices=[("", "—"), *EventType.choices], required=False)
    intervention = forms.CharField(required=False, max_length=2000)
    text = forms.CharField(required=False, max_length=2000)
    time = TimeOfDayField()


class DischargeForm(forms.Form):
    alert_oriented = forms.BooleanField(required=False, label="Alert and oriented")
    walks_steadily = forms.BooleanField(required=False, label="Able to walk steadily")
    escort_present = forms.BooleanField(
        required=False, label="Driver here (in person) / companion present (at home)"
    )
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class AbandonForm(forms.Form):
    reason = forms.CharField(max_length=2000, label="Why the session ends without discharge")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ChecklistForm(forms.Form):
    fasting = forms.BooleanField(required=False, label=dict(CHECKLIST_ITEMS)["fasting"])
    no_alcohol_24h = forms.BooleanField(
        required=False, label=dict(CHECKLIST_ITEMS)["no_alcohol_24h"]
    )
    ride_or_companion = forms.BooleanField(
        required=False, label=dict(CHECKLIST_ITEMS)["ride_or_companion"]
    )
    phone_charged = forms.BooleanField(required=False, label=dict(CHECKLIST_ITEMS)["phone_charged"])
    setting_ready = forms.BooleanField(required=False, label=dict(CHECKLIST_ITEMS)["setting_ready"])


class ReadoutForm(VitalsFields):
    pass


class CheckForm(forms.Form):
    check_state = forms.ChoiceField(
        choices=CHECK_STATES, widget=forms.RadioSelect, label="How does the client seem?"
    )
    text = forms.CharField(required=False, max_length=500, label="Anything to add")


class OpenForm(forms.Form):
    course_id = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    appointment_id = forms.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, widget=forms.HiddenInput
    )


class GroupForm(forms.Form):
    kind = forms.ChoiceField(choices=GroupKind.choices, initial=GroupKind.DOSING, label="Kind")
    courses = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, label="Clients (their courses)"
    )
    co_clinician = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Second clinician (optional)"
    )
    room = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Room")

    def __init__(self, *args, courses=(), clinicians=(), rooms=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["courses"].choices = [(str(c.pk), c.client.display_name) for c in courses]
        self.fields["co_clinician"].choices = [("", "—")] + [
            (m.pk, str(m.user)) for m in clinicians
        ]
        self.fields["room"].choices = [("", "—")] + [(r.pk, r.name) for r in rooms]


class GroupAddForm(forms.Form):
    course = forms.TypedChoiceField(coerce=int, label="Add a client")

    def __init__(self, *args, courses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["course"].choices = [(c.pk, c.client.display_name) for c in courses]


class GroupCloseForm(forms.Form):
    attended = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Attended"
    )
    note = forms.CharField(required=False, max_length=2000, label="Note for each course")

    def __init__(self, *args, attendees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attended"].choices = [(a.course_id, a.client.display_name) for a in attendees]


class SettingsForm(forms.ModelForm):
    recheck_minutes = forms.CharField(
        label="Vitals due after the dose (minutes, comma-separated)", max_length=100
    )

    class Meta:
        model = SessionSettings
        fields = [
            "bp_systolic_flag", "bp_diastolic_flag", "heart_rate_high", "heart_rate_low",
            "spo2_low", "recheck_minutes", "companion_check_minutes",
            "observation_minutes_in_person", "observation_minutes_at_home",
            "start_valid_minutes",
        ]  # fmt: skip
        labels = {
            "bp_systolic_flag": "Flag systolic blood pressure at or above (mmHg)",
            "bp_diastolic_flag": "Flag diastolic blood pressure at or above (mmHg)",
            "heart_rate_high": "Flag heart rate above (beats a minute)",
            "heart_rate_low": "Flag heart rate below (beats a minute)",
            "spo2_low": "Flag oxygen saturation (SpO2) below (%)",
            "companion_check_minutes": "At home: companion's visual check every (minutes)",
            "observation_minutes_in_person": "Observation after the dose, in the office (minutes)",
            "observation_minutes_at_home": "Observation after the dose, at home (minutes)",
            "start_valid_minutes": "First dose within this long of the start (minutes)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            self.initial["recheck_minutes"] = ", ".join(
                str(m) for m in self.instance.recheck_minutes or []
            )

    def clean_recheck_minutes(self):
        raw = self.cleaned_data["recheck_minutes"]
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError as exc:
            raise forms.ValidationError("Write whole minutes separated by commas.") from exc
