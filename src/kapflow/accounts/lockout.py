"""The key django-axes counts sign-in failures under (settings.AXES_USERNAME_CALLABLE).

Sign-in matches the e-mail address case-insensitively, so failures must be counted per
person, not per typed string: otherwise each letter-case variant of an address gets its own
five guesses. An address that belongs to a user is counted as `user:<id>`; any other address
as `email:<stripped, casefolded address>`, so guessing at unknown addresses locks the same way
and reveals nothing. The key never holds the address of a real user, so failure rows
(AccessAttempt, AccessFailureLog) hold no contact details; axes' success log (AccessLog)
still records the address it signed in with.
"""

from kapflow.accounts.models import User

_CACHE_ATTR = "_kapflow_lockout_keys"


def normalise_email(value) -> str:
    return str(value or "").strip().casefold()


def lockout_username(request, credentials) -> str:
    """axes calls this several times per sign-in (check, failure, success), with the
    credentials passed to authenticate() or, on success and sign-out, with none: then the
    posted form field is used."""
    from django.conf import settings

    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        typed = credentials.get(field)
    elif request is not None:
        typed = getattr(request, "data", request.POST).get(field)
    else:
        typed = None
    email = normalise_email(typed)
    if not email:
        return ""
    cache = getattr(request, _CACHE_ATTR, None) if request is not None else None
    if cache is not None and email in cache:
        return cache[email]
    user_id = User.objects.filter(email__iexact=email).values_list("pk", flat=True).first()
    key = f"user:{user_id}" if user_id is not None else f"email:{email}"[:255]
    if request is not None:
        setattr(request, _CACHE_ATTR, {**(cache or {}), email: key})
    return key
