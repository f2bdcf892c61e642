"""Forms for secure messages. They parse input only: limits on attachments (type, size,
number) and who may write to whom are checked by the services, so page and API agree."""

from django import forms

from kapflow.messaging import files
from kapflow.messaging.models import BODY_MAX_CHARS, SUBJECT_MAX_CHARS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Zero or more files from one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": files.ACCEPT, "multiple": True})
        )
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class MessageForm(forms.Form):
    body = forms.CharField(
        label="Message",
        required=False,
        max_length=BODY_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    attachments = MultipleFileField(
        label="Attachments",
        help_text=(
            f"Up to {files.MAX_PER_MESSAGE} files, {files.MAX_BYTES // (1024 * 1024)} MB each: "
            "PDF, PNG, JPEG or plain text."
        ),
    )


class NewThreadForm(MessageForm):
    """A new conversation. Staff choose the client and the kind; a client writes to their
    care team, so those fields are removed for them."""

    client = forms.TypedChoiceField(label="Client", coerce=int)
    kind = forms.ChoiceField(label="With")
    subject = forms.CharField(label="Subject", max_length=SUBJECT_MAX_CHARS)

    field_order = ["client", "kind", "subject", "body", "attachments"]

    def __init__(self, *args, clients=None, kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if clients is None:
            del self.fields["client"]
        else:
            self.fields["client"].choices = [("", "Choose a client")] + [
                (c.pk, c.sort_name) for c in clients
            ]
        if kinds is None or len(kinds) < 2:
            del self.fields["kind"]
        else:
            self.fields["kind"].choices = kinds


class AddParticipantForm(forms.Form):
    membership_id = forms.TypedChoiceField(label="Add to the conversation", coerce=int)

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["membership_id"].choices = [
            (m.pk, f"{m.user} ({m.organisation})") for m in candidates
        ]
