"""Directory forms: the public search, the pre-screen, the consultation request, and the
practice's profile editors. Forms only parse; services decide."""

from django import forms

from kapflow.accounts.models import STATE_CHOICES
from kapflow.clinical import directory as rules
from kapflow.directory.models import Condition, Insurance, Language, Modality

STATE_OPTIONS = [("", "Choose a state"), *list(STATE_CHOICES)]


class SearchForm(forms.Form):
    mode = forms.ChoiceField(
        label="Find",
        choices=[
            ("near", "Near a ZIP code"),
            ("city", "In a city"),
            ("online", "Online, licensed in my state"),
        ],
        initial="near",
        required=False,
    )
    zip_code = forms.CharField(label="ZIP code", max_length=10, required=False)
    radius = forms.TypedChoiceField(
        label="Within",
        choices=[(r, f"{r} miles") for r in rules.RADIUS_CHOICES],
        coerce=int,
        initial=rules.DEFAULT_RADIUS,
        required=False,
    )
    city = forms.CharField(label="City", max_length=100, required=False)
    state = forms.ChoiceField(label="State", choices=STATE_OPTIONS, required=False)
    q = forms.CharField(label="Name or words in the bio", max_length=200, required=False)
    modality = forms.ChoiceField(
        label="Kind of care", choices=[("", "Any"), *Modality.choices], required=False
    )
    condition = forms.ChoiceField(
        label="Help with", choices=[("", "Any"), *Condition.choices], required=False
    )
    insurance = forms.ChoiceField(
        label="Insurance or payment", choices=[("", "Any"), *Insurance.choices], required=False
    )
    price_max = forms.IntegerField(
        label="Most I can pay a session (USD)", min_value=0, max_value=100_000, required=False
    )
    accepting = forms.BooleanField(label="Taking new clients", required=False)
    sort = forms.ChoiceField(
        label="Sort by",
        choices=[
            ("", "Best match"),
            ("distance", "Distance"),
            ("relevance", "Relevance"),
            ("name", "Name"),
        ],
        required=False,
    )


class PrescreenForm(forms.Form):
    age = forms.IntegerField(label="Your age", min_value=1, max_value=120)
    state = forms.ChoiceField(label="The state you live in", choices=STATE_OPTIONS)
    seeking = forms.MultipleChoiceField(
        label="What would you like help with?",
        choices=list(rules.SEEKING.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    prior_treatments = forms.ChoiceField(
        label="What have you tried so far?",
        choices=list(rules.PRIOR_TREATMENTS.items()),
        widget=forms.RadioSelect,
        required=False,
    )
    medicines = forms.MultipleChoiceField(
        label="Do you take any of these now?",
        choices=[(k, v[0]) for k, v in rules.MEDICINE_CATEGORIES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    pregnancy = forms.ChoiceField(
        label="Are you pregnant or breastfeeding?",
        choices=[
            ("no", "No"),
            ("na", "Does not apply to me"),
            ("pregnant", "I am pregnant"),
            ("breastfeeding", "I am breastfeeding"),
            ("unsure", "I am not sure"),
        ],
        widget=forms.RadioSelect,
        initial="no",
    )
    in_therapy = forms.ChoiceField(
        label="Are you seeing a therapist now, or willing to?",
        choices=[("yes", "Yes"), ("no", "No")],
        widget=forms.RadioSelect,
        initial="yes",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, (question, _codes) in rules.YES_NO.items():
            self.fields[key] = forms.ChoiceField(
                label=question,
                choices=[("no", "No"), ("yes", "Yes")],
                widget=forms.RadioSelect,
                initial="no",
            )

    def answers(self) -> rules.PrescreenAnswers:
        data = self.cleaned_data
        return rules.PrescreenAnswers(
            age=data["age"],
            state=data["state"],
            seeking=tuple(data.get("seeking") or ()),
            prior_treatments=data.get("prior_treatments") or "",
            medicines=tuple(data.get("medicines") or ()),
            yes={key: data.get(key) == "yes" for key in rules.YES_NO},
            pregnancy=data.get("pregnancy") or "unsure",
            in_therapy=data.get("in_therapy") == "yes",
        )


class RequestForm(forms.Form):
    first_name = forms.CharField(label="First name", max_length=100)
    last_name = forms.CharField(label="Last name", max_length=100)
    email = forms.EmailField(label="E-mail", max_length=254)
    phone = forms.CharField(label="Phone (optional)", max_length=30, required=False)
    date_of_birth = forms.DateField(
        label="Date of birth", widget=forms.DateInput(attrs={"type": "date"})
    )
    client_state = forms.ChoiceField(label="The state you live in", choices=STATE_OPTIONS)
    message = forms.CharField(
        label="Anything you would like the practice to know (optional)",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # The honeypot: hidden from people (CSS and aria-hidden), filled by bots.
    website = forms.CharField(label="Leave this empty", required=False)
    slot = forms.CharField(required=False, widget=forms.HiddenInput)
    joint = forms.BooleanField(required=False, widget=forms.HiddenInput)
    prescreen = forms.CharField(required=False, widget=forms.HiddenInput)


class PracticeProfileForm(forms.Form):
    display_name = forms.CharField(label="Name shown", max_length=200)
    bio = forms.CharField(
        label="About the practice", max_length=4000, required=False, widget=forms.Textarea
    )
    phone = forms.CharField(max_length=40, required=False)
    website = forms.URLField(required=False, assume_scheme="https")
    street = forms.CharField(label="Street address", max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    state = forms.ChoiceField(choices=STATE_OPTIONS)
    zip_code = forms.CharField(label="ZIP code", max_length=5, required=False)
    online_only = forms.BooleanField(label="Online only (no office)", required=False)
    partner_id = forms.TypedChoiceField(
        label="Prescribing partner", coerce=int, required=False, empty_value=None, choices=[]
    )
    published = forms.BooleanField(label="Published (shown to the public)", required=False)

    def __init__(self, *args, partners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner_id"].choices = [("", "None")] + [(p.pk, p.name) for p in partners]


class ClinicianProfileForm(forms.Form):
    display_name = forms.CharField(label="Name shown", max_length=200)
    credentials = forms.CharField(max_length=80, required=False)
    bio = forms.CharField(max_length=4000, required=False, widget=forms.Textarea)
    modalities = forms.MultipleChoiceField(
        choices=Modality.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    conditions = forms.MultipleChoiceField(
        choices=Condition.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    insurance = forms.MultipleChoiceField(
        choices=Insurance.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    languages = forms.MultipleChoiceField(
        choices=Language.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    price_min = forms.IntegerField(label="Lowest price (USD)", min_value=0, required=False)
    price_max = forms.IntegerField(label="Highest price (USD)", min_value=0, required=False)
    accepting_new = forms.BooleanField(label="Taking new clients", required=False)
    in_person = forms.BooleanField(label="Sees clients in person", required=False)
    telehealth = forms.BooleanField(label="Sees clients by telehealth", required=False)
    partner_prescriber_id = forms.TypedChoiceField(
        label="Partner prescriber (joint intake)",
        coerce=int,
        required=False,
        empty_value=None,
        choices=[],
    )
    published = forms.BooleanField(label="Published", required=False)

    def __init__(self, *args, prescribers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner_prescriber_id"].choices = [("", "None")] + [
            (m.pk, f"{m.user.full_name} ({m.organisation.name})") for m in prescribers
        ]


class InquiryActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("contacted", "Contacted"),
            ("booked", "Consultation booked"),
            ("converted", "Became a client"),
            ("closed", "Close"),
        ]
    )
    reason = forms.CharField(label="Reason (to close)", max_length=200, required=False)


class InquiryBookForm(forms.Form):
    """Book the held consultation as an appointment: telehealth, or one of the rooms."""

    room = forms.TypedChoiceField(
        label="Where", coerce=int, empty_value=None, required=False, choices=[]
    )
    confirm = forms.BooleanField(
        label="Book anyway, outside working hours or time off", required=False
    )

    def __init__(self, *args, rooms=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["room"].choices = [("", "Telehealth (video)")] + [
            (r.pk, f"Room {r.name}") for r in rooms
        ]
