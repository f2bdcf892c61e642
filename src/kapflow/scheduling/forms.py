"""Scheduling forms. Times are typed in the viewer's zone (ActorMiddleware activates it) and
read with kapflow.clinical.scheduling.to_aware, so a time in the spring-forward gap moves
forward and an ambiguous one is the first, as everywhere else in scheduling."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.utils import timezone

from kapflow.accounts.models import STATE_CHOICES
from kapflow.clinical import scheduling as rules
from kapflow.scheduling.models import AppointmentKind

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
# Dates a form accepts (the services check the exact bounds: 2000 to five years ahead).
EARLIEST_YEAR = 2000
YEARS_AHEAD = 5
BOUNDS_MESSAGE = "Choose a date between 2000 and five years from now."


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=LOCAL_FORMAT, **kwargs)

    def format_value(self, value):
        if isinstance(value, datetime) and timezone.is_aware(value):
            value = timezone.localtime(value).replace(tzinfo=None)
        return super().format_value(value)


class LocalDateTimeField(forms.Field):
    """A wall time in the current (viewer's) zone, returned aware."""

    widget = LocalDateTimeInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value if timezone.is_aware(value) else self._aware(value)
        try:
            naive = datetime.strptime(str(value).strip()[:16], LOCAL_FORMAT)
        except ValueError as exc:
            raise forms.ValidationError("Enter a date and time.") from exc
        return self._aware(naive)

    @staticmethod
    def _aware(naive: datetime) -> datetime:
        # Far from year 1 and 9999, where moving a time to another zone overflows.
        if not EARLIEST_YEAR <= naive.year <= timezone.now().year + YEARS_AHEAD:
            raise forms.ValidationError(BOUNDS_MESSAGE)
        # In UTC: an ambiguous wall time kept in its zone compares unequal to every other
        # zone's datetime (PEP 495), which would surprise any later ==.
        try:
            return rules.to_aware(naive, timezone.get_current_timezone_name()).astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError(BOUNDS_MESSAGE) from exc


REPEAT_CHOICES = [("", "Does not repeat"), ("1", "Every week"), ("2", "Every other week")]


class ClientSelect(forms.Select):
    """One client in a plain drop-down (not a multi-select list box), read as the list the
    service takes; other clients of a group session come from `also_clients`."""

    allow_multiple_selected = False

    def value_from_datadict(self, data, files, name):
        getter = getattr(data, "getlist", None)
        values = getter(name) if getter else data.get(name)
        if values is None:
            return []
        return [v for v in (values if isinstance(values, list) else [values]) if v != ""]

    def format_value(self, value):
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        return super().format_value(value)


class BookForm(forms.Form):
    kind = forms.ChoiceField(choices=AppointmentKind.choices)
    clients = forms.TypedMultipleChoiceField(
        coerce=int, label="Client", widget=ClientSelect,
        error_messages={"required": "Choose a client."},
    )  # fmt: skip
    also_clients = forms.CharField(
        required=False,
        max_length=200,
        label="Other clients (group sessions only)",
        help_text="Their record numbers, as shown in the list above, separated by commas.",
    )
    therapist = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    prescriber = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    starts_at = LocalDateTimeField(label="Starts")
    minutes = forms.IntegerField(
        required=False,
        min_value=rules.MIN_MINUTES,
        max_value=rules.MAX_MINUTES,
        label="Length in minutes",
        help_text="Leave empty for the usual length (a dosing session: 3 hours).",
    )
    room = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    telehealth = forms.BooleanField(required=False, label="Telehealth (video)")
    telehealth_url = forms.URLField(
        required=False, assume_scheme="https", label="Video link (https://...)"
    )
    repeat = forms.ChoiceField(choices=REPEAT_CHOICES, required=False)
    repeat_count = forms.IntegerField(
        required=False, min_value=2, max_value=rules.MAX_OCCURRENCES, label="How many times"
    )
    book_integration = forms.BooleanField(
        required=False,
        label="Also book the integration session (within 72 hours)",
        help_text="Dosing sessions only.",
    )
    integration_starts_at = LocalDateTimeField(required=False, label="Integration session starts")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args, clients=(), clinicians=(), rooms=(), integration_hours=72, kinds=None,
        **kwargs,
    ):  # fmt: skip
        super().__init__(*args, **kwargs)
        if kinds is not None:
            # Only the kinds the actor may book (policy.can_book_kind).
            self.fields["kind"].choices = [c for c in AppointmentKind.choices if c[0] in kinds]
        self.fields[
            "book_integration"
        ].label = f"Also book the integration session (within {integration_hours} hours)"
        self.fields["clients"].choices = [("", "Choose a client")] + [
            (c.pk, f"{c.display_name} (#{c.pk})") for c in clients
        ]
        therapists = [m for m in clinicians if m.has_role("therapist")]
        prescribers = [m for m in clinicians if m.has_role("prescriber")]
        self.fields["therapist"].choices = [("", "The course's therapist")] + [
            (m.pk, m.user.full_name or m.user.email) for m in therapists
        ]
        self.fields["prescriber"].choices = [("", "None")] + [
            (m.pk, f"{m.user.full_name or m.user.email} ({m.organisation.name})")
            for m in prescribers
        ]
        self.fields["room"].choices = [("", "No room")] + [(r.pk, r.name) for r in rooms]

    def recurrence(self):
        data = self.cleaned_data
        if not data.get("repeat"):
            return None
        return rules.Recurrence(interval=int(data["repeat"]), count=data.get("repeat_count"))

    def clean_also_clients(self) -> list[int]:
        text = (self.cleaned_data.get("also_clients") or "").replace("#", "")
        ids = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
        if any(not i.isdecimal() or len(i) > 12 for i in ids):
            raise forms.ValidationError("Give record numbers only, e.g. 12, 15.")
        if len(ids) > 19:
            raise forms.ValidationError("A group session holds at most 20 clients.")
        return [int(i) for i in ids]

    def clean(self):
        data = super().clean()
        if data.get("clients") is not None and data.get("also_clients"):
            data["clients"] = list(dict.fromkeys(data["clients"] + data["also_clients"]))
        if data.get("book_integration") and not data.get("integration_starts_at"):
            start = data.get("starts_at")
            if start is not None:
                data["integration_starts_at"] = rules.default_integration_start(
                    start, timezone.get_current_timezone_name()
                )
        return data


def default_start(now: datetime) -> datetime:
    """Tomorrow at 10:00 in the viewer's zone."""
    zone_name = timezone.get_current_timezone_name()
    local = timezone.localtime(now).date() + timedelta(days=1)
    start = datetime.combine(local, datetime.min.time()).replace(hour=10)
    return rules.to_aware(start, zone_name).astimezone(UTC)


class RescheduleForm(forms.Form):
    starts_at = LocalDateTimeField(label="New start")
    minutes = forms.IntegerField(
        required=False, min_value=rules.MIN_MINUTES, max_value=rules.MAX_MINUTES,
        label="Length in minutes",
    )  # fmt: skip
    reason = forms.CharField(required=False, max_length=500, label="Why (optional)")
    version = forms.IntegerField(widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), label="Reason (required)"
    )
    following = forms.BooleanField(
        required=False, label="Also cancel the later appointments of this series"
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class RuleForm(forms.Form):
    weekday = forms.TypedChoiceField(
        coerce=int,
        choices=list(
            enumerate(
                ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
            )
        ),
    )
    start_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="From")
    end_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="To")


class ExceptionForm(forms.Form):
    starts_at = LocalDateTimeField(label="From")
    ends_at = LocalDateTimeField(label="To")
    available = forms.BooleanField(required=False, label="Extra hours (otherwise: time off)")
    reason = forms.CharField(required=False, max_length=200, label="Note (no client details)")


class RoomForm(forms.Form):
    name = forms.CharField(max_length=80)
    capacity = forms.IntegerField(min_value=1, max_value=50, initial=1)
    state = forms.ChoiceField(
        choices=[("", "The practice's state"), *STATE_CHOICES],
        required=False,
        help_text="Clinicians seeing a client in this room must be licensed here.",
    )


class FeedForm(forms.Form):
    show_details = forms.BooleanField(
        required=False,
        label="Show the kind of session in event titles",
        help_text="Off: every event says only “kapflow appointment”. Calendars are often "
        "shared or synced to other services; leave this off unless only you see yours.",
    )


class SettingsForm(forms.Form):
    group_size_max = forms.IntegerField(
        min_value=2, max_value=20, label="Most clients in a group session"
    )
    reminder_offsets = forms.CharField(
        required=False,
        max_length=100,
        label="Reminders, in minutes before the start",
        help_text="Separated by commas, e.g. 1440, 120 (a day and two hours). Empty: those.",
    )
    reminder_sms = forms.BooleanField(
        required=False, label="Also remind by text message (people with a phone number)"
    )
    integration_late_refused = forms.BooleanField(
        required=False,
        label="Refuse integration sessions booked later than the integration window",
        help_text="Off: booking one later than the window after its dosing session warns, "
        "and the booker may confirm it.",
    )
    reminder_sender_name = forms.CharField(
        required=False,
        max_length=80,
        label="Name reminders are sent under",
        help_text="Empty: the practice's name. Choose a neutral name that does not reveal the "
        "treatment (not, for example, “... Ketamine Clinic”): others may read the "
        "recipient's messages.",
    )

    def clean_reminder_offsets(self):
        text = self.cleaned_data["reminder_offsets"].strip()
        if not text:
            return []
        try:
            return [int(part) for part in text.replace(" ", "").split(",") if part]
        except ValueError as exc:
            raise forms.ValidationError("Write whole numbers of minutes, e.g. 1440, 120.") from exc
