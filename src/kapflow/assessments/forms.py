"""Questionnaire forms built from the instrument registry: one radio group per item, field
names are item ids, so the instrument's validation errors land beside their items."""

from django import forms

from kapflow.assessments.models import Decision
from kapflow.clinical import instruments


class InstrumentForm(forms.Form):
    def __init__(self, *args, instrument, **kwargs):
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        if instrument.entry == instruments.Entry.TOTAL:
            self.fields["total"] = forms.IntegerField(
                label=f"Total score ({instrument.min_total}–{instrument.max_total})",
                required=False,
            )
            return
        for item in instrument.items:
            self.fields[item.id] = forms.TypedChoiceField(
                label=item.text or item.label,
                choices=[(o.value, o.label) for o in item.options],
                coerce=int,
                required=False,  # the instrument decides what is required
                widget=forms.RadioSelect,
            )

    def answers(self) -> dict[str, int]:
        return {k: v for k, v in self.cleaned_data.items() if k != "total" and v not in ("", None)}


def instrument_choices(respondent: str | None = None):
    return [
        (code, inst.name)
        for code, inst in instruments.REGISTRY.items()
        if respondent is None or inst.respondent == respondent
    ]


class AssignForm(forms.Form):
    instrument = forms.ChoiceField(label="Questionnaire")
    schedule = forms.ChoiceField(
        label="When",
        choices=[
            ("once", "Once, now"),
            ("plan", "On the KAP schedule: baseline, before each dosing, a week after, monthly"),
        ],
    )
    due_at = forms.DateTimeField(
        label="Due by", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = instrument_choices("self")


class CorrectionForm(forms.Form):
    reason = forms.CharField(label="Why the answers are corrected", max_length=500)


class ResolveForm(forms.Form):
    """The structured risk assessment (kapflow.clinical.overrides.RiskAssessment)."""

    risk_level = forms.ChoiceField(
        label="Assessed risk level",
        choices=[("low", "Low"), ("moderate", "Moderate"), ("high", "High")],
        widget=forms.RadioSelect,
    )
    protective_factors_reviewed = forms.BooleanField(
        label="Protective factors reviewed", required=False
    )
    safety_plan_reviewed = forms.BooleanField(
        label="Safety plan reviewed with the client", required=False
    )
    means_restriction_discussed = forms.BooleanField(
        label="Means restriction discussed", required=False
    )
    decision = forms.ChoiceField(
        label="Decision (proceed needs all three reviewed, and never at high risk)",
        choices=Decision.choices,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Rationale", widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )
    downgrade_rationale = forms.CharField(
        label="Why the assessed level is lower than the screen's (required for that)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=4000,
        required=False,
    )
