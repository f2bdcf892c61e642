"""Sign-in events for the audit trail, from Django's auth signals and axes' lockout signal
(connected in AuditConfig.ready).

| action | when | actor | target |
|---|---|---|---|
| auth.sign_in | a person signed in | user | user |
| auth.sign_in_fail | a wrong password, or an address with no account | none | user, if any |
| auth.lockout | the failure that locked an account; every try while locked | none | user, if any |
| auth.sign_out | the person signed out | user | user |
| auth.session_end | the session ended on its own (idle or absolute time-out) | user | user |
| mfa.fail | a wrong authenticator or recovery code | user | user |

(mfa.verify, a code accepted, is written by the MFA page itself.)

One row per organisation the person belongs to, so each practice reports on its own members.
The typed password never reaches these receivers (Django replaces it before sending
user_login_failed); an address with no account is stored only as a keyed hash. A locked or
failed try names the account only by id.
"""

import logging

from kapflow.accounts.lockout import lockout_username, normalise_email
from kapflow.audit.services import audit_record_account
from kapflow.core.context import RequestMeta, current_request_meta

logger = logging.getLogger(__name__)


def _meta(request) -> RequestMeta:
    """The request's metadata; filled from the request itself when the signal fires before
    ActorMiddleware has set it (the idle time-out signs out earlier in the chain)."""
    meta = current_request_meta()
    if meta.request_id or request is None:
        return meta
    from kapflow.accounts.middleware import client_ip

    return RequestMeta(
        request_id=getattr(request, "request_id", ""),
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:200],
        route="",
        client_request_id=getattr(request, "client_request_id", ""),
    )


def _organisation_ids(user_id: int | None) -> list[int | None]:
    if user_id is None:
        return [None]
    from kapflow.accounts.models import Membership

    ids = list(
        Membership.objects.filter(user_id=user_id, is_active=True)
        .order_by("organisation_id")
        .values_list("organisation_id", flat=True)
    )
    return ids or [None]


def _account(key: str) -> tuple[int | None, str]:
    """(user id, normalised address) from kapflow.accounts.lockout's key."""
    kind, _, value = key.partition(":")
    if kind == "user" and value.isdecimal():
        return int(value), ""
    return None, value if kind == "email" else normalise_email(key)


def _record_attempt(action: str, request, key: str) -> None:
    user_id, address = _account(key)
    audit_record_account(
        action=action,
        user_id=user_id,
        organisation_ids=_organisation_ids(user_id),
        acted=False,
        subject=address if user_id is None else "",
        meta=_meta(request),
    )


def on_signed_in(sender, request, user, **kwargs):
    audit_record_account(
        action="auth.sign_in",
        user_id=user.pk,
        organisation_ids=_organisation_ids(user.pk),
        acted=True,
        meta=_meta(request),
    )


def on_signed_out(sender, request, user, **kwargs):
    if user is None:
        return
    from django.urls import reverse

    ended_by_person = request is not None and request.path == reverse("accounts:logout")
    audit_record_account(
        action="auth.sign_out" if ended_by_person else "auth.session_end",
        user_id=user.pk,
        organisation_ids=_organisation_ids(user.pk),
        acted=True,
        meta=_meta(request),
    )


def on_sign_in_failed(sender, credentials, request=None, **kwargs):
    if request is not None and getattr(request, "axes_locked_out", False):
        return  # on_locked_out has recorded this try as auth.lockout
    key = lockout_username(request, credentials)
    if not key:
        return
    _record_attempt("auth.sign_in_fail", request, key)


def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    if not username:
        return
    _record_attempt("auth.lockout", request, username)


def on_device_saved(sender, instance, created=False, update_fields=None, **kwargs):
    """mfa.fail: django-otp's ThrottlingMixin.throttle_increment() stamps the failure time and
    saves the whole device after every wrong code, whichever page or device type asked, so
    that save is the one place every MFA failure passes. Other saves either name their
    fields, reset the count (a code accepted) or carry an older failure time."""
    from django_otp.models import ThrottlingMixin

    if created or update_fields is not None or not isinstance(instance, ThrottlingMixin):
        return
    failed_at = instance.throttling_failure_timestamp
    if not instance.throttling_failure_count or failed_at is None:
        return
    from kapflow.core import clock

    if abs((clock.now() - failed_at).total_seconds()) > 2:
        return
    audit_record_account(
        action="mfa.fail",
        user_id=instance.user_id,
        organisation_ids=_organisation_ids(instance.user_id),
        acted=True,
    )
