"""Forms for the caseload filters, opening a course, transitions, records and dosing."""

from django import forms

from kapflow.clinical.course import STAGE_LABELS, Stage
from kapflow.courses.models import (
    CONDITION_CHOICES,
    DELIVERY_CHOICES,
    PATHWAY_CHOICES,
    GateSettings,
)

STATUS_CHOICES = [
    ("open", "Open courses"),
    ("overdue", "With overdue tasks (from the deadline scan)"),
    ("closed", "Closed courses"),
    ("all", "All courses"),
]
SORT_CHOICES = [
    ("stage", "Stage"),
    ("recent", "Recently changed"),
    ("oldest", "Longest at this stage"),
    ("name", "Client last name"),
    ("opened", "Newest course"),
]


class CourseFilterForm(forms.Form):
    status = forms.ChoiceField(label="Show", choices=STATUS_CHOICES, required=False)
    stage = forms.ChoiceField(
        label="Stage",
        required=False,
        choices=[("", "Any stage"), *[(s.value, STAGE_LABELS[s]) for s in Stage]],
    )
    pathway = forms.ChoiceField(
        label="Pathway", required=False, choices=[("", "Any pathway"), *PATHWAY_CHOICES]
    )
    delivery = forms.ChoiceField(
        label="Delivery", required=False, choices=[("", "Any delivery"), *DELIVERY_CHOICES]
    )
    therapist = forms.TypedChoiceField(
        label="Therapist", required=False, coerce=int, empty_value=None
    )
    sort = forms.ChoiceField(label="Sort by", choices=SORT_CHOICES, required=False)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, therapists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapist"].choices = [("", "Any therapist")] + [
            (m.pk, str(m.user)) for m in therapists
        ]


class CourseOpenForm(forms.Form):
    condition = forms.ChoiceField(label="Main condition", choices=CONDITION_CHOICES)
    pathway = forms.ChoiceField(label="Pathway", choices=PATHWAY_CHOICES)
    delivery = forms.ChoiceField(label="Delivery", choices=DELIVERY_CHOICES)


class TransitionForm(forms.Form):
    action = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Reason", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    prescriber = forms.IntegerField(label="Prescriber", required=False, min_value=1)
    clearance_on = forms.DateField(
        label="Medical clearance date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    clearance_valid_days = forms.IntegerField(
        label="Clearance valid for (days)", required=False, min_value=1, max_value=730
    )
    preparation_planned = forms.IntegerField(
        label="Preparation sessions planned", required=False, min_value=1, max_value=3
    )


class RecordForm(forms.Form):
    kind = forms.CharField(widget=forms.HiddenInput)
    occurred_at = forms.DateTimeField(
        label="When",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty for now.",
    )
    positive = forms.TypedChoiceField(
        label="Result",
        required=False,
        choices=[("", "—"), ("no", "Negative"), ("yes", "Positive")],
        coerce=lambda v: v == "yes",
        empty_value=None,
    )
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DosingStartForm(forms.Form):
    bp_systolic = forms.IntegerField(
        label="Pre-dose systolic (mmHg)", required=False, min_value=40, max_value=300
    )
    bp_diastolic = forms.IntegerField(
        label="Pre-dose diastolic (mmHg)", required=False, min_value=20, max_value=200
    )
    alcohol_free_24h = forms.BooleanField(
        label="Client confirms no alcohol in the last 24 hours", required=False
    )
    companion_present = forms.BooleanField(
        label="Companion is present (at-home sessions)", required=False
    )
    driver_confirmed = forms.BooleanField(
        label="Someone will drive the client home (in-person sessions)", required=False
    )
    override_reason = forms.CharField(
        label="Override reason (only for reasons marked overridable)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class GateSettingsForm(forms.ModelForm):
    class Meta:
        model = GateSettings
        fields = [
            "bp_systolic_max",
            "bp_diastolic_max",
            "screen_valid_days",
            "integration_hours",
            "followup_grace_days",
            "followup_interval_days",
        ]
        labels = {
            "bp_systolic_max": "Hold the dose when systolic is at or above (mmHg)",
            "bp_diastolic_max": "Hold the dose when diastolic is at or above (mmHg)",
            "screen_valid_days": "A suicide-risk screen stays valid for (days)",
            "integration_hours": "Integration session due within (hours) of a dosing",
            "followup_grace_days": "Medical follow-up due (days) after the second dosing",
            "followup_interval_days": "Then a medical follow-up at least every (days)",
        }
