"""One-time form tokens (decision 0038): a page form sent twice is done once.

Every form that renders `{% csrf_token %}` also carries a random `kapflow_form_token` (the
tag is replaced in kapflow.core.templatetags.form_tokens). When a signed-in person posts a
token, `FormTokenMiddleware` claims it in core.IdempotencyRecord before the view runs:

- The first copy runs. A redirect spends the token (the record keeps where it went); so does
  any 2xx or 3xx to an htmx request. Anything else (the form shown again with its errors, a
  refusal, a server error) gives the token back: nothing was done, and sending again is fine.
- A repeat of a spent token does not run the view: a page request is sent (303) to where the
  first went, with "This form was already sent"; an htmx request gets 204 (nothing to swap).
- A repeat while the first copy is still running (a double click: the browser shows the
  second answer) waits up to WAIT_SECONDS for the first and then answers as above.

A POST without a token is let through unprotected (tests, scripts, forms rendered without a
request); a malformed token is refused (400). htmx answers carry a fresh token in the
`Kapflow-Form-Token` header, which app.js puts into the form that sent the request, so a form
that stays on the page (the dosing-session entries) can be sent again. Views that are reads or
autosaves sent as POSTs opt out with `form_token_exempt`.

Claims are per signed-in user; anonymous forms (sign-in, password reset) are not protected.
Nothing here logs a token or a path.
"""

import logging
import re
import secrets
import time
from functools import wraps

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from kapflow.core.idempotency import Claim, claim, complete, release, wait_for
from kapflow.core.middleware import API_PREFIX
from kapflow.core.models import IdempotencyKind

logger = logging.getLogger(__name__)

FIELD = "kapflow_form_token"
RESPONSE_HEADER = "Kapflow-Form-Token"
ALREADY_SENT = "This form was already sent; nothing was done twice."
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A token is spent once, whichever form or button sent it: one fingerprint for all.
FINGERPRINT = "form"
# How long a repeat waits for the first copy still running (a double click) before it says
# so; `sleep` is looked up at call time so tests replace it and never wait.
WAIT_SECONDS = 10.0
sleep = time.sleep


def new_token() -> str:
    return secrets.token_urlsafe(18)


def form_token_exempt(view):
    """For POST views that are reads or repeated saves (searches, pickers, autosave): a form
    token sent to them is neither claimed nor checked."""
    view.form_token_exempt = True
    return view


def form_token_guard(view):
    """The middleware's check as a decorator, for csrf_exempt views that must set upload
    handlers before anything reads request.POST (messaging): apply it inside csrf_protect."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        early = begin(request)
        if early is not None:
            return early
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            _give_back(request)
            raise
        return finish(request, response)

    wrapper.form_token_guarded = True
    return wrapper


class FormTokenMiddleware:
    """Claims a posted form token before the view runs and settles it after (see the module
    docstring). Comes after CSRF (a forged post claims nothing), authentication and
    messages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        return finish(request, response)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            getattr(view_func, "csrf_exempt", False)
            or getattr(view_func, "form_token_exempt", False)
            or getattr(view_func, "form_token_guarded", False)
        ):
            # A csrf_exempt view may set upload handlers before the body is read; reading
            # request.POST here would come first (messaging uses form_token_guard instead).
            return None
        return begin(request)


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _posted_token(request) -> str | None:
    if request.method != "POST" or request.path_info.startswith(API_PREFIX):
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return request.POST.get(FIELD)


def begin(request):
    """None to let the view run (having claimed the token, if one was sent), or the answer
    to a repeat."""
    token = _posted_token(request)
    if token is None:
        return None
    request.kapflow_form_token_sent = True
    if not TOKEN_PATTERN.fullmatch(token):
        return _bad_token(request)
    principal = f"user:{request.user.pk}"
    found = claim(
        kind=IdempotencyKind.FORM, principal=principal, key=token, fingerprint=FINGERPRINT
    )
    if found.outcome == "in_flight" and found.record is not None and not _is_htmx(request):
        record = wait_for(found.record, seconds=WAIT_SECONDS, sleep=lambda s: sleep(s))
        if record is None:
            # The first copy failed and gave the token back: this one runs in its place.
            found = claim(
                kind=IdempotencyKind.FORM, principal=principal, key=token, fingerprint=FINGERPRINT
            )
        elif record.status is not None:
            found = Claim("done", record)
    if found.outcome == "claimed":
        request.kapflow_form_claim = found.record
        return None
    logger.info(
        "form_token.repeat",
        extra={"record_id": found.record.pk if found.record else None, "outcome": found.outcome},
    )
    return _with_fresh_token(request, _repeat(request, found.record))


def finish(request, response):
    """Spend the token (a redirect; any 2xx or 3xx to htmx) or give it back (anything else)."""
    record = getattr(request, "kapflow_form_claim", None)
    if record is not None:
        request.kapflow_form_claim = None
        status = response.status_code
        redirected = 300 <= status < 400
        if redirected or (_is_htmx(request) and status < 400):
            complete(
                record, status=status, location=response.get("Location", "") if redirected else ""
            )
        else:
            release(record)
    return _with_fresh_token(request, response)


def _give_back(request) -> None:
    record = getattr(request, "kapflow_form_claim", None)
    if record is not None:
        request.kapflow_form_claim = None
        release(record)


def _with_fresh_token(request, response):
    if getattr(request, "kapflow_form_token_sent", False) and _is_htmx(request):
        response[RESPONSE_HEADER] = new_token()
    return response


def _repeat(request, record):
    if _is_htmx(request):
        # The first copy's answer is the one htmx swaps in; this one changes nothing.
        return HttpResponse(status=204)
    if record is not None and record.location:
        messages.info(request, ALREADY_SENT)
        # 303 See Other: followed with a GET, to where the first copy went.
        return HttpResponseRedirect(record.location, status=303)
    return render(
        request,
        "core/already_sent.html",
        {"still_running": record is None or record.status is None, "back": _back(request)},
        status=409,
    )


def _bad_token(request):
    return render(
        request,
        "core/already_sent.html",
        {"bad_token": True, "back": _back(request)},
        status=400,
    )


def _back(request) -> str:
    """The page the form was on, if it is on this site; else home."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return "/"
