"""Billing forms: shape and type only; the services check every rule and amount."""

from django import forms

from kapflow.billing.models import (
    CoverageKind,
    PaymentMethod,
    Purpose,
    Relationship,
    Rounding,
    SourceKind,
    WriteOffReason,
)

AMOUNT = {"max_digits": 12, "decimal_places": 2, "min_value": 0}


class ChargeForm(forms.Form):
    source_kind = forms.ChoiceField(
        choices=[
            (SourceKind.DOSING_SESSION, "Dosing session"),
            (SourceKind.APPOINTMENT, "Appointment"),
        ]
    )
    source_id = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class PaymentForm(forms.Form):
    amount = forms.DecimalField(**AMOUNT)
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    reference = forms.CharField(max_length=100, required=False)
    received_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class RefundForm(forms.Form):
    payment_id = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    amount = forms.DecimalField(**AMOUNT)
    reason = forms.CharField(max_length=300)


class CreditForm(forms.Form):
    amount = forms.DecimalField(**AMOUNT)
    reason = forms.CharField(max_length=300)


class WriteOffForm(forms.Form):
    amount = forms.DecimalField(**AMOUNT)
    reason_code = forms.ChoiceField(choices=WriteOffReason.choices)
    note = forms.CharField(max_length=300, required=False)


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=300)


class CoverageForm(forms.Form):
    kind = forms.ChoiceField(choices=CoverageKind.choices)
    payer = forms.CharField(max_length=200, required=False)
    payer_id = forms.CharField(max_length=20, required=False, label="Payer id")
    member_id = forms.CharField(max_length=40, required=False, label="Member id")
    group_number = forms.CharField(max_length=40, required=False)
    subscriber_name = forms.CharField(max_length=200, required=False)
    relationship = forms.ChoiceField(choices=Relationship.choices, initial=Relationship.SELF)


class DiagnosisForm(forms.Form):
    code = forms.CharField(max_length=10, label="ICD-10-CM code")


class FeeForm(forms.Form):
    code = forms.CharField(max_length=10)
    description = forms.CharField(max_length=200)
    purpose = forms.ChoiceField(choices=Purpose.choices)
    rate = forms.DecimalField(**AMOUNT)
    effective_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    unit_minutes = forms.IntegerField(
        min_value=1, max_value=480, initial=60, help_text="Minutes per unit (60 for an hour)."
    )


class PeriodForm(forms.Form):
    start = forms.DateField()
    end = forms.DateField()

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The period ends before it starts.")
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            self.add_error("end", "A period is at most a year.")
        return data


class StatementRunForm(forms.Form):
    month = forms.DateField(help_text="Any day of the month to state.")


class BillingSettingsForm(forms.Form):
    tax_id = forms.CharField(max_length=20, required=False, label="Tax id (EIN)")
    currency = forms.CharField(max_length=3, min_length=3, help_text="ISO 4217, such as USD.")
    rounding_minutes = forms.IntegerField(
        min_value=1, max_value=60, label="Private time step (minutes)"
    )
    rounding = forms.ChoiceField(choices=Rounding.choices, label="Round private time")
    telehealth_modifier = forms.ChoiceField(choices=[("95", "95"), ("GT", "GT")])
    payment_terms_days = forms.IntegerField(min_value=0, max_value=365, label="Days to pay")
