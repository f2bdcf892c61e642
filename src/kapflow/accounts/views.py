"""Pages for signing in, MFA, organisations, members, invitations and credentials."""

import base64
import io

import django_otp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow import policy
from kapflow.accounts import selectors, services
from kapflow.accounts.forms import (
    AcceptInvitationForm,
    ApiTokenForm,
    CertificateForm,
    ConfirmTotpForm,
    InvitationForm,
    LicenceForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    PasswordResetSetForm,
    RolesForm,
    SignInForm,
    TimeZoneForm,
    TokenForm,
)
from kapflow.accounts.middleware import ORG_SESSION_KEY, client_ip
from kapflow.accounts.models import RecoveryCodeDevice, hash_secret
from kapflow.audit.services import audit_record
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound
from kapflow.core.views import add_errors, redirect_to_next, staff_actor


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


@require_POST
def sign_out(request):
    return auth_views.logout_then_login(request)


@login_required
def mfa_verify(request):
    if request.user.is_verified():
        return redirect("home")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = "".join(form.cleaned_data["token"].split())
        device = services.mfa_device_for_code(user=request.user, code=token)
        if device is None:
            form.add_error("token", "No device of that kind is enrolled.")
        else:
            allowed, _extra = device.verify_is_allowed()
            if not allowed:
                form.add_error("token", "Too many wrong codes. Wait a moment and try again.")
            elif device.verify_token(token):
                django_otp.login(request, device)
                audit_record(actor=request.actor, action="mfa.verify", target=device)
                if isinstance(device, RecoveryCodeDevice):
                    left = device.codes.count()
                    messages.warning(request, f"Recovery code used; {left} left.")
                return redirect_to_next(request, request.GET.get("next"))
            else:
                form.add_error("token", "That code did not match.")
    return render(request, "accounts/mfa_verify.html", {"form": form})


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@login_required
def mfa_setup(request):
    """Enrol an authenticator app: QR code, confirm with a code, then recovery codes once."""
    if services.has_authenticator(request.user) and not request.user.is_verified():
        return redirect("accounts:mfa_verify")
    device = services.totp_device_pending(user=request.user)
    form = ConfirmTotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.totp_confirm(
                user=request.user, token=form.cleaned_data["token"], actor=request.actor
            )
        except ValidationError as exc:
            add_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            device.refresh_from_db()
            django_otp.login(request, device)
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "new": True})
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return render(
        request,
        "accounts/mfa_setup.html",
        {"form": form, "qr": _qr_svg(device.config_url), "secret": secret},
    )


@login_required
@require_POST
def recovery_codes_regenerate(request):
    if not request.user.is_verified():
        return redirect("accounts:mfa_verify")
    codes = services.recovery_codes_generate(user=request.user)
    audit_record(actor=request.actor, action="mfa.recovery_codes")
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "new": False})


@login_required
def security(request):
    """The signed-in person's security page: MFA status, password and API tokens."""
    token_form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and policy.is_staff_actor(request.actor) and token_form.is_valid():
        try:
            _, new_token = services.api_token_create(
                actor=request.actor,
                name=token_form.cleaned_data["name"],
                scope=token_form.cleaned_data["scope"],
                days=int(token_form.cleaned_data["days"]),
                mfa_verified=request.user.is_verified(),
            )
        except ValidationError as exc:
            add_errors(token_form, exc)
        except DomainError as exc:
            token_form.add_error(None, exc.message)
    refusals = {"expired": "Expired", "made_without_mfa": "Refused: made without MFA"}
    tokens = [
        {"token": t, "status": refusals.get(services.api_token_refusal(t), "Active")}
        for t in (selectors.api_token_list(actor=request.actor) if request.actor else [])
    ]
    return render(
        request,
        "accounts/security.html",
        {
            "has_totp": services.has_authenticator(request.user),
            "token_form": token_form,
            "tokens": tokens,
            "new_token": new_token,
            "time_zone_form": TimeZoneForm(initial={"time_zone": request.user.time_zone}),
            "time_zone_now": timezone.get_current_timezone_name(),
        },
    )


@login_required
def password_change(request):
    """Change one's own password: the current one first. The session stays signed in (and
    verified); other sessions of the person end, as Django ties them to the password."""
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.password_change(
                user=request.user,
                current_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "Password changed.")
            return redirect("accounts:security")
    return render(request, "accounts/password_change.html", {"form": form})


def password_reset(request):
    """Ask for a reset link by e-mail. The next page is the same whether or not the address
    has an account; too many requests from one network get a 429."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_reset_request(
                email=form.cleaned_data["email"], ip_address=client_ip(request)
            )
        except services.ResetLimited as exc:
            form.add_error(None, exc.message)
            return render(request, "accounts/password_reset.html", {"form": form}, status=429)
        return redirect("accounts:password_reset_sent")
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_sent(request):
    return render(
        request,
        "accounts/password_reset_sent.html",
        {"minutes": settings.PASSWORD_RESET_TIMEOUT // 60},
    )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The e-mailed link: Django checks the token (one use, PASSWORD_RESET_TIMEOUT); the new
    password goes through the service. No sign-in here, so staff still pass MFA after."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = PasswordResetSetForm
    post_reset_login = False
    success_url = reverse_lazy("accounts:password_reset_done")


def password_reset_done(request):
    return render(request, "accounts/password_reset_done.html")


@login_required
@require_POST
def time_zone(request):
    """Set the signed-in person's own time zone (every page shows times in it)."""
    form = TimeZoneForm(request.POST)
    if form.is_valid():
        services.time_zone_set(
            user=request.user, time_zone=form.cleaned_data["time_zone"], actor=request.actor
        )
        messages.success(request, "Time zone saved.")
    else:
        messages.error(request, "Choose a time zone from the list.")
    return redirect("accounts:security")


@login_required
@require_POST
def api_token_revoke(request, token_id: int):
    services.api_token_revoke(actor=request.actor, token_id=token_id)
    messages.success(request, "Token revoked.")
    return redirect("accounts:security")


@login_required
def switch_organisation(request):
    if request.method == "POST":
        try:
            wanted = int(request.POST.get("organisation", ""))
        except ValueError:
            wanted = None
        if any(m.organisation_id == wanted for m in request.memberships):
            request.session[ORG_SESSION_KEY] = wanted
            return redirect("home")
        messages.error(request, "Choose one of your organisations.")
    return render(request, "accounts/switch.html")


@login_required
def members(request):
    actor = staff_actor(request)
    member_rows = selectors.member_list(actor=actor)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_create(
                actor=actor, email=form.cleaned_data["email"], roles=form.cleaned_data["roles"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Invitation sent.")
            return redirect("accounts:members")
    return render(
        request,
        "accounts/members.html",
        {
            "members": member_rows,
            "invitations": selectors.invitation_list(actor=actor)[:50],
            "form": form,
        },
    )


INVITATION_ACTIONS = {
    "revoke": (services.invitation_revoke, "Invitation revoked."),
    "resend": (services.invitation_resend, "Invitation sent again; the old link no longer works."),
}


@login_required
@require_POST
def invitation_action(request, invitation_id: int, action: str):
    actor = staff_actor(request)
    if action not in INVITATION_ACTIONS:
        raise Http404()
    service, done = INVITATION_ACTIONS[action]
    try:
        service(actor=actor, invitation_id=invitation_id)
    except NotFound as exc:
        raise Http404() from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("accounts:members")


@login_required
def member_detail(request, membership_id: int):
    actor = staff_actor(request)
    membership = selectors.member_get(actor=actor, membership_id=membership_id)
    roles_form = RolesForm(initial={"roles": sorted(membership.role_set)})
    licence_form = LicenceForm()
    certificate_form = CertificateForm()
    if request.method == "POST":
        which = request.POST.get("form")
        try:
            if which == "roles" and policy.can_manage_members(actor):
                roles_form = RolesForm(request.POST)
                if roles_form.is_valid():
                    services.membership_set_roles(
                        actor=actor,
                        membership_id=membership.pk,
                        roles=roles_form.cleaned_data["roles"],
                    )
                    messages.success(request, "Roles saved.")
                    return redirect("accounts:member", membership_id=membership.pk)
            elif which == "licence":
                licence_form = LicenceForm(request.POST)
                if licence_form.is_valid():
                    services.licence_add(
                        actor=actor, membership=membership, data=licence_form.cleaned_data
                    )
                    messages.success(request, "Licence added.")
                    return redirect("accounts:member", membership_id=membership.pk)
            elif which == "certificate":
                certificate_form = CertificateForm(request.POST)
                if certificate_form.is_valid():
                    services.certificate_add(
                        actor=actor, membership=membership, data=certificate_form.cleaned_data
                    )
                    messages.success(request, "Certificate added.")
                    return redirect("accounts:member", membership_id=membership.pk)
            elif which == "deactivate" and policy.can_manage_members(actor):
                services.membership_deactivate(actor=actor, membership_id=membership.pk)
                messages.success(request, "Member deactivated.")
                return redirect("accounts:members")
        except ValidationError as exc:
            target = {"roles": roles_form, "licence": licence_form}.get(which, certificate_form)
            add_errors(target, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
    today = clock.viewer_today()
    licences = [
        {"licence": lic, "current": lic.expires_on is None or lic.expires_on >= today}
        for lic in membership.user.licences.all()
    ]
    return render(
        request,
        "accounts/member_detail.html",
        {
            "member": membership,
            "licences": licences,
            "roles_form": roles_form,
            "licence_form": licence_form,
            "certificate_form": certificate_form,
            "can_manage": policy.can_manage_members(actor),
        },
    )


def invitation_accept(request, token: str):
    """Open an invitation link: a new person sets a password; an existing one signs in."""
    invitation = selectors.invitation_get_by_token(token_hash=hash_secret(token))
    form = AcceptInvitationForm(request.POST or None)
    from kapflow.accounts.models import User

    existing = User.objects.filter(email__iexact=invitation.email).exists()
    if request.method == "POST":
        try:
            if existing:
                membership = services.invitation_accept(
                    token=token,
                    user=request.user if request.user.is_authenticated else None,
                )
            elif form.is_valid():
                membership = services.invitation_accept(
                    token=token,
                    user=None,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password"],
                )
                auth_login(
                    request, membership.user, backend="django.contrib.auth.backends.ModelBackend"
                )
            else:
                membership = None
        except ValidationError as exc:
            add_errors(form, exc)
            membership = None
        except DomainError as exc:
            messages.error(request, exc.message)
            membership = None
        if membership is not None:
            request.session[ORG_SESSION_KEY] = membership.organisation_id
            messages.success(request, f"Welcome to {membership.organisation.name}.")
            verified = getattr(request.user, "is_verified", lambda: False)()
            if membership.is_staff_member and not verified:
                return redirect("accounts:mfa_setup")
            return redirect("home")
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "form": form, "existing": existing},
    )
