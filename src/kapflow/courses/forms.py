"""Forms for the caseload filters, opening a course, transitions, records and dosing."""

from django import forms

from kapflow.clinical import overrides as ovr
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
    # Posted, never remembered: a client's name stays out of URLs and the session.
    q = forms.CharField(
        label="Client name or number",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
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
    amount_mg = forms.DecimalField(
        label="Amount given, boosters included (mg)", min_value=1, max_value=1000,
        max_digits=7, decimal_places=2,
        help_text="Filled in from the prescription; more than it allows is refused unless the "
        "prescriber authorised it for this session.",
    )  # fmt: skip
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
    override_codes = forms.MultipleChoiceField(
        label="Reasons to override (each reason above says who may)",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    override_category = forms.ChoiceField(
        label="Justification category",
        required=False,
    )
    override_rationale = forms.CharField(
        label="Rationale: what you checked, and why dosing is safe",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        override_fields(self)

    def overrides(self) -> dict:
        return overrides_from(self.cleaned_data)


def override_fields(form) -> None:
    """The structured override fields' choices (kapflow.clinical.overrides)."""
    form.fields["override_codes"].choices = [(c, ovr.reason_label(c)) for c in ovr.TIGHTENABLE]
    form.fields["override_category"].choices = [("", "—")] + [
        (c.value, ovr.CATEGORY_LABELS[c]) for c in ovr.Category
    ]


def overrides_from(data: dict) -> dict:
    """code -> Justification from the override fields: one category and rationale for the
    codes ticked (each code's rule then checks the category is one of its own)."""
    justification = ovr.Justification(
        category=data.get("override_category") or "",
        rationale=data.get("override_rationale") or "",
    )
    return dict.fromkeys(data.get("override_codes") or [], justification)


class StandingOverrideForm(forms.Form):
    """An override signed ahead of the start (the prescriber's, usually), for reasons the gate
    gives now with the reading the signer saw."""

    bp_systolic = forms.IntegerField(
        label="Pre-dose systolic seen (mmHg)", required=False, min_value=40, max_value=300
    )
    bp_diastolic = forms.IntegerField(
        label="Pre-dose diastolic seen (mmHg)", required=False, min_value=20, max_value=200
    )
    override_codes = DosingStartForm.base_fields["override_codes"]
    override_category = DosingStartForm.base_fields["override_category"]
    override_rationale = DosingStartForm.base_fields["override_rationale"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        override_fields(self)
        self.fields["override_codes"].required = True


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
            "dose_interval_hours",
        ]
        labels = {
            "bp_systolic_max": "Hold the dose when systolic is at or above (mmHg)",
            "bp_diastolic_max": "Hold the dose when diastolic is at or above (mmHg)",
            "screen_valid_days": "A suicide-risk screen stays valid for (days)",
            "integration_hours": "Integration session due within (hours) of a dosing",
            "followup_grace_days": "Medical follow-up due (days) after the second dosing",
            "followup_interval_days": "Then a medical follow-up at least every (days)",
            "dose_interval_hours": "At least this long between doses (hours, 12 to 720)",
        }

    def __init__(self, *args, **kwargs):
        """One choice per gate reason someone may override by default: the default owner or
        anything stricter, never looser (kapflow.clinical.overrides.practice_table)."""
        super().__init__(*args, **kwargs)
        current = (self.instance.override_authority if self.instance else None) or {}
        for code in ovr.TIGHTENABLE:
            default = ovr.DEFAULT_RULES[code].authority
            stricter = [a for a in ovr.Authority if ovr.STRICTNESS[a] >= ovr.STRICTNESS[default]]
            self.fields[_authority_field(code)] = forms.ChoiceField(
                label=f"Who may override “{ovr.reason_label(code)}”",
                choices=[(a.value, ovr.AUTHORITY_LABELS[a]) for a in stricter],
                initial=current.get(code, default.value),
                required=False,  # left out: the default owner
            )

    def clean(self):
        cleaned = super().clean()
        chosen = {}
        for code in ovr.TIGHTENABLE:
            value = cleaned.pop(_authority_field(code), None)
            if value and value != ovr.DEFAULT_RULES[code].authority.value:
                chosen[code] = value
        problems = ovr.practice_problems(chosen)
        for code, message in problems.items():
            self.add_error(_authority_field(code), message)
        cleaned["override_authority"] = chosen
        return cleaned


def _authority_field(code: str) -> str:
    return "override__" + code.replace(".", "__")
