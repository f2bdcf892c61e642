"""Resolve who is acting (request.actor) and insist on MFA for staff.

request.actor is the Membership the signed-in user acts through: the organisation chosen in
the organisation switcher (kept in the session), or their first membership.
"""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from kapflow.accounts.models import STAFF_ROLES
from kapflow.accounts.selectors import memberships_for_user
from kapflow.core.context import RequestMeta, reset_request_meta, set_request_meta

ORG_SESSION_KEY = "kapflow_org"


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class ActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.memberships = []
        request.actor = None
        if request.user.is_authenticated:
            request.memberships = memberships_for_user(request.user)
            wanted = request.session.get(ORG_SESSION_KEY)
            request.actor = next(
                (m for m in request.memberships if m.organisation_id == wanted),
                request.memberships[0] if request.memberships else None,
            )
        from django.utils import timezone as dj_timezone

        from kapflow.core.timezones import viewer_zone, zone

        if request.user.is_authenticated:
            dj_timezone.activate(zone(viewer_zone(request.user, request.actor)))
        else:
            dj_timezone.deactivate()
        try:
            route = resolve(request.path_info).view_name
        except Resolver404:
            route = ""
        token = set_request_meta(
            RequestMeta(
                request_id=getattr(request, "request_id", ""),
                ip_address=client_ip(request),
                user_agent=request.headers.get("User-Agent", "")[:200],
                route=route[:100],
                client_request_id=getattr(request, "client_request_id", ""),
            )
        )
        try:
            return self.get_response(request)
        finally:
            reset_request_meta(token)
            dj_timezone.deactivate()


def mfa_required(user, memberships) -> bool:
    """Every staff role, and platform staff, must pass MFA. In demo mode a user who has not
    enrolled a device is let through (the fixed demo sign-ins)."""
    needs = user.is_staff or any(m.role_set & STAFF_ROLES for m in memberships)
    if not needs:
        return False
    if settings.KAPFLOW_DEMO_MODE:
        from kapflow.accounts.models import AuthenticatorDevice

        return AuthenticatorDevice.objects.filter(user=user, confirmed=True).exists()
    return True


MFA_EXEMPT_PREFIXES = ("/mfa/", "/sign-out/", "/static/", "/api/", "/fhir/", "/invite/")


class MfaRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(MFA_EXEMPT_PREFIXES)
            and mfa_required(user, request.memberships)
        ):
            from django_otp import user_has_device

            if request.headers.get("HX-Request") == "true":
                # A fragment (the header's notification count) asked for by the verification
                # page itself: a redirect would swap that page into the header. Nothing.
                return HttpResponse(status=204)
            if user_has_device(user, confirmed=True):
                return redirect(f"{settings.MFA_VERIFY_URL}")
            return redirect(f"{settings.MFA_SETUP_URL}")
        return self.get_response(request)
