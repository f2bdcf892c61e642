"""Helpers shared by page views."""

from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

# Re-exported: every app's staff pages and routers import it from here.
from kapflow.core.access import staff_actor as staff_actor


def add_errors(form, exc: ValidationError) -> None:
    """Put a service's ValidationError beside the form's fields (unknown keys go on top)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def call_for_form(form, service, /, **kwargs):
    """Run a service for a form: field errors go beside their fields, rule refusals on top.
    Returns the service's result, or None when it refused (the form then has the errors)."""
    from kapflow.core.errors import DomainError, NotFound

    try:
        return service(**kwargs)
    except NotFound:
        raise
    except ValidationError as exc:
        add_errors(form, exc)
    except DomainError as exc:
        form.add_error(None, exc.message)
    return None


def redirect_to_next(request, target, fallback: str = "home"):
    """Redirect to a caller-supplied `next` only if it stays on this site (https from a
    secure request); anything else, including nothing, goes to `fallback`. Every `next`
    read from a query string or form goes through here: it is the open-redirect guard."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)
