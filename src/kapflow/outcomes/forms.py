"""The practice report's choice of instrument and grouping."""

from django import forms

from kapflow.clinical import instruments
from kapflow.outcomes.selectors import GROUPING_LABELS, GROUPINGS, PRACTICE_INSTRUMENTS


class PracticeReportForm(forms.Form):
    instrument = forms.ChoiceField(
        label="Questionnaire",
        choices=[(code, instruments.get(code).short_name) for code in PRACTICE_INSTRUMENTS],
    )
    group_by = forms.ChoiceField(
        label="Group by", choices=[(key, GROUPING_LABELS[key]) for key in GROUPINGS]
    )

    DEFAULTS = {"instrument": "phq9", "group_by": "all"}

    def __init__(self, data=None, **kwargs):
        # An unfiltered visit shows the defaults; given values are validated as sent.
        merged = {**self.DEFAULTS, **{k: v for k, v in (data or {}).items() if k in self.DEFAULTS}}
        super().__init__(merged, **kwargs)
