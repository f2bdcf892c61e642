"""Forms for the referral, evaluation, decision, prescription, fill, follow-up and dose log
pages. They check shapes; the services check the rules."""

from django import forms

from kapflow.clinical import prescribing as rx
from kapflow.clinical.eligibility import CHECKLIST
from kapflow.prescriptions.models import (
    FREQUENCY_CHOICES,
    PREGNANCY_CHOICES,
    PRODUCT_CHOICES,
    Decision,
    EvaluationModality,
    Handover,
)
from kapflow.prescriptions.services import FOLLOWUP_PLANS

YES_NO = [("", "Not answered"), ("yes", "Yes"), ("no", "No")]


def _yes_no(value):
    return {"yes": True, "no": False}.get(value)


class ReferralForm(forms.Form):
    prescriber = forms.TypedChoiceField(label="Refer to", coerce=int, empty_value=None)
    reason = forms.CharField(
        label="Reason for referral", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    medications = forms.CharField(
        label="Current medications (one per line, with dose)", required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
    history = forms.CharField(
        label="Relevant history", required=False, max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )  # fmt: skip
    share_scores = forms.BooleanField(label="Share the latest questionnaire scores", required=False)
    consent_to_share = forms.BooleanField(
        label="The client consented to share this information with the prescriber",
        required=False,
    )
    consent_note = forms.CharField(
        label="How consent was given", max_length=300, required=False,
        help_text="For example: signed release of information on file, dated.",
    )  # fmt: skip

    # Diagnoses are posted as repeated `diagnoses` values by the ICD-10-CM picker and read
    # by the view; the service checks each code.

    def __init__(self, *args, prescribers=(), **kwargs):
        super().__init__(*args, **kwargs)
        prescribers = list(prescribers)
        self.fields["prescriber"].choices = [("", "Choose…")] + [
            (m.pk, f"{m.user} — {m.organisation.name}") for m in prescribers
        ]
        if len(prescribers) == 1:
            # The practice's one partner prescriber for this client: chosen already.
            self.fields["prescriber"].initial = prescribers[0].pk


class ScheduleForm(forms.Form):
    scheduled_for = forms.DateTimeField(
        label="Evaluation date and time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class DoseAuthoriseForm(forms.Form):
    """More than the prescription's per-session amount, for the next session (decision
    0030)."""

    amount_mg = forms.DecimalField(
        label="Most for the next session, boosters included (mg)", min_value=1, max_value=1000,
        max_digits=7, decimal_places=2,
    )  # fmt: skip
    reason = forms.CharField(label="Why", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


MED_ROWS = 8


class EvaluationForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    evaluated_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    modality = forms.ChoiceField(choices=EvaluationModality.choices)
    history = forms.CharField(
        label="Medical and psychiatric history", required=False, max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )  # fmt: skip
    allergies = forms.CharField(required=False, max_length=2000)
    substance_use = forms.CharField(
        label="Substance use", required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip
    bp_systolic = forms.IntegerField(
        label="Blood pressure, systolic (mmHg)", required=False, min_value=60, max_value=260
    )
    bp_diastolic = forms.IntegerField(
        label="Blood pressure, diastolic (mmHg)", required=False, min_value=30, max_value=160
    )
    heart_rate = forms.IntegerField(
        label="Heart rate (bpm)", required=False, min_value=25, max_value=250
    )
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, min_value=20, max_value=400, decimal_places=1
    )
    height_cm = forms.DecimalField(
        label="Height (cm)", required=False, min_value=100, max_value=250, decimal_places=1
    )
    pregnancy = forms.ChoiceField(label="Pregnancy status", choices=PREGNANCY_CHOICES)
    ongoing_therapy = forms.TypedChoiceField(
        label="In ongoing therapy with a licensed provider", choices=YES_NO, coerce=_yes_no,
        empty_value=None, required=False,
    )  # fmt: skip

    def __init__(self, *args, med_rows: int = MED_ROWS, **kwargs):
        """`med_rows`: how many medicine rows; at least MED_ROWS, more when the draft (for
        example, prefilled from the referral) already lists more."""
        super().__init__(*args, **kwargs)
        self.med_rows = max(MED_ROWS, med_rows)
        for item in CHECKLIST:
            self.fields[f"check_{item.code}"] = forms.TypedChoiceField(
                label=item.question, choices=YES_NO, coerce=_yes_no, empty_value=None,
                required=False,
            )  # fmt: skip
        for i in range(self.med_rows):
            self.fields[f"med_{i}_name"] = forms.CharField(required=False, max_length=120)
            self.fields[f"med_{i}_dose"] = forms.CharField(required=False, max_length=80)
            self.fields[f"med_{i}_daily_mg"] = forms.DecimalField(
                required=False, min_value=0, max_value=10000, decimal_places=2
            )

    def checklist_fields(self):
        return [self[f"check_{item.code}"] for item in CHECKLIST]

    def medication_rows(self):
        return [
            (self[f"med_{i}_name"], self[f"med_{i}_dose"], self[f"med_{i}_daily_mg"])
            for i in range(self.med_rows)
        ]

    def checklist(self) -> dict:
        return {item.code: self.cleaned_data.get(f"check_{item.code}") for item in CHECKLIST}

    def medications(self) -> list[dict]:
        rows = []
        for i in range(self.med_rows):
            name = self.cleaned_data.get(f"med_{i}_name")
            if name:
                daily = self.cleaned_data.get(f"med_{i}_daily_mg")
                rows.append(
                    {
                        "name": name,
                        "dose": self.cleaned_data.get(f"med_{i}_dose") or "",
                        "daily_dose_mg": float(daily) if daily is not None else None,
                    }
                )
        return rows

    @staticmethod
    def initial_for(evaluation) -> dict:
        initial = {
            f: getattr(evaluation, f)
            for f in (
                "version", "evaluated_on", "modality", "history", "allergies", "substance_use",
                "bp_systolic", "bp_diastolic", "heart_rate", "weight_kg", "height_cm",
                "pregnancy",
            )
        }  # fmt: skip
        initial["ongoing_therapy"] = {True: "yes", False: "no"}.get(evaluation.ongoing_therapy, "")
        for item in CHECKLIST:
            answer = evaluation.checklist.get(item.code)
            initial[f"check_{item.code}"] = {True: "yes", False: "no"}.get(answer, "")
        for i, med in enumerate(evaluation.medications):
            initial[f"med_{i}_name"] = med.get("name", "")
            initial[f"med_{i}_dose"] = med.get("dose", "")
            initial[f"med_{i}_daily_mg"] = med.get("daily_dose_mg")
        return initial


class ReviewedMedicinesField(forms.MultipleChoiceField):
    """Ticks for medicines not in the catalogue. Which ticks count, and whether every one is
    there, is the service's rule (`eligibility_decide`), so the page and the API refuse alike;
    a tick for a medicine no longer listed reaches the service and is refused there."""

    def valid_value(self, value):
        return isinstance(value, str) and len(value) <= 200


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    clearance_valid_days = forms.IntegerField(
        label="Clearance valid for (days, when eligible)", required=False, min_value=1,
        max_value=730, initial=180,
    )  # fmt: skip
    acknowledge_exclusions = forms.BooleanField(
        label="I reviewed every exclusion listed and still judge the client eligible",
        required=False,
    )
    medications_reviewed = ReviewedMedicinesField(
        label="Medicines not in the catalogue: tick each one you reviewed by hand",
        help_text="kapflow could not screen these for interactions with ketamine. Eligible "
        "needs a tick for every one.",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    signature = forms.CharField(label="Sign: type your full name", max_length=200)
    findings_digest = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(
        self, *args, to_review: list[str] | tuple[str, ...] = (), signer: str = "", **kwargs
    ):
        """`to_review`: the medicines, as the findings name them, that are not in the
        catalogue; one checkbox each, and no such field when there are none. `signer`: the
        signing prescriber's registered full name, shown as the form the signature takes."""
        super().__init__(*args, **kwargs)
        if signer:
            self.fields["signature"].label = f"Sign: type your full name as registered: {signer}"
            self.fields["signature"].help_text = (
                "Your typed name is your signature on this decision. Capital letters, spacing "
                "and a title such as “Dr.” may differ."
            )
        if to_review:
            self.fields["medications_reviewed"].choices = [
                (name, f"{name}: reviewed by hand") for name in to_review
            ]
        else:
            del self.fields["medications_reviewed"]


class PrescriptionForm(forms.Form):
    product = forms.ChoiceField(choices=PRODUCT_CHOICES)
    frequency = forms.ChoiceField(choices=FREQUENCY_CHOICES)
    strength_mg = forms.DecimalField(
        label="Strength (mg per unit)", min_value=1, max_value=1000, decimal_places=2
    )
    dose_mg = forms.DecimalField(label="Dose (mg)", min_value=1, max_value=1000, decimal_places=2)
    quantity = forms.IntegerField(label="Doses per fill", min_value=1, max_value=120)
    refills = forms.IntegerField(
        label=f"Refills (at most {rx.MAX_REFILLS}, Schedule III)", min_value=0, max_value=99
    )
    pharmacy_name = forms.CharField(label="Pharmacy", max_length=200)
    pharmacy_phone = forms.CharField(label="Pharmacy phone", max_length=30, required=False)
    pharmacy_address = forms.CharField(label="Pharmacy address", max_length=300, required=False)
    instructions = forms.CharField(
        label="Directions", max_length=5000, required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip
    dea_number = forms.CharField(label="Your DEA registration number", max_length=9)
    confirm_reason = forms.CharField(
        label="If warned: why this is right for the client", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


class DispenseForm(forms.Form):
    quantity = forms.IntegerField(label="Doses dispensed", min_value=1, max_value=120)
    dispensed_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    handover = forms.ChoiceField(
        label="How the client gets it", choices=Handover.choices, initial=Handover.SHIPPED,
        widget=forms.RadioSelect, required=False,
    )  # fmt: skip
    shipped_on = forms.DateField(
        label="Shipped on (shipped fills only)", required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    tracking = forms.CharField(label="Tracking number", required=False, max_length=100)
    received_on = forms.DateField(
        label="Received by the client", required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip

    def clean_handover(self):
        # Not chosen: shipped, as every fill was before pick-ups were recorded.
        return self.cleaned_data.get("handover") or Handover.SHIPPED


class FollowupForm(forms.Form):
    plan = forms.ChoiceField(choices=list(FOLLOWUP_PLANS.items()))
    bp_systolic = forms.IntegerField(required=False, min_value=60, max_value=260)
    bp_diastolic = forms.IntegerField(required=False, min_value=30, max_value=160)
    heart_rate = forms.IntegerField(required=False, min_value=25, max_value=250)
    note = forms.CharField(
        label="Summary", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class DoseLogForm(forms.Form):
    taken_on = forms.DateField(label="Day taken", widget=forms.DateInput(attrs={"type": "date"}))
    amount_mg = forms.DecimalField(
        label="Amount (mg, optional)", required=False, min_value=1, max_value=1000,
        decimal_places=2,
    )  # fmt: skip
    note = forms.CharField(label="Note (optional)", required=False, max_length=500)


class ShipForm(forms.Form):
    """Shipping and receipt of a fill; for a fill picked up only the date received counts
    (the service says which date is missing, by its field)."""

    shipped_on = forms.DateField(
        label="Shipped on (shipped fills only)", required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    tracking = forms.CharField(label="Tracking number", required=False, max_length=100)
    received_on = forms.DateField(
        label="Received by the client", required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip


class PickupForm(ShipForm):
    """The day the client collected a fill that is picked up, not shipped."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["shipped_on"]
        del self.fields["tracking"]
        self.fields["received_on"].label = "Picked up on"
        self.fields["received_on"].required = True
