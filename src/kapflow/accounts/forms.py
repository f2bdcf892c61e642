"""Forms for sign-in, MFA, invitations and credentials. Validation messages name the field."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm

from kapflow.accounts.models import ApiTokenScope, ClinicianLicence, Role, TrainingCertificate


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    error_messages = {
        "invalid_login": "That email and password do not match an active account.",
        "inactive": "This account is not active.",
    }


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class ConfirmTotpForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from the app",
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


STAFF_ROLE_CHOICES = [
    (r.value, r.label) for r in (Role.PRACTICE_ADMIN, Role.THERAPIST, Role.PRESCRIBER, Role.BILLER)
]


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email")
    roles = forms.MultipleChoiceField(
        label="Roles", choices=STAFF_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label="Roles", choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label="Your full name", max_length=200)
    password = forms.CharField(
        label="Choose a password (at least 12 characters)",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class LicenceForm(forms.ModelForm):
    class Meta:
        model = ClinicianLicence
        fields = ["licence_type", "state", "number", "expires_on"]
        widgets = {"expires_on": forms.DateInput(attrs={"type": "date"})}


class CertificateForm(forms.ModelForm):
    class Meta:
        model = TrainingCertificate
        fields = ["name", "issuer", "issued_on", "expires_on"]
        widgets = {
            "issued_on": forms.DateInput(attrs={"type": "date"}),
            "expires_on": forms.DateInput(attrs={"type": "date"}),
        }


TOKEN_DAYS_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(label="Token name", max_length=100)
    scope = forms.ChoiceField(
        label="Access",
        choices=ApiTokenScope.choices,
        initial=ApiTokenScope.READ,
        help_text="Read-only tokens are refused on anything that changes data.",
    )
    days = forms.ChoiceField(label="Expires after", choices=TOKEN_DAYS_CHOICES, initial="90")


def _time_zone_choices() -> list:
    from kapflow.core.timezones import time_zone_choices

    return time_zone_choices(blank="My organisation's time zone")


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Time zone", required=False, choices=_time_zone_choices)


def _password_field(label: str, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class PasswordChangeForm(forms.Form):
    """Current password, then the new one twice; the service checks both."""

    old_password = _password_field("Current password", "current-password")
    new_password1 = _password_field("New password (at least 12 characters)", "new-password")
    new_password2 = _password_field("New password again", "new-password")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_password1") != cleaned.get("new_password2"):
            self.add_error("new_password2", "The two new passwords differ.")
        return cleaned


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "username"})
    )


class PasswordResetSetForm(SetPasswordForm):
    """Django's form for the reset link's page; saving goes through the service (audited)."""

    def save(self, commit=True):
        from kapflow.accounts.services import password_reset_complete

        return password_reset_complete(
            user=self.user, new_password=self.cleaned_data["new_password1"]
        )
