"""Amendment pages: the client's requests in the portal (list, ask, read, disagree) and the
practice's queue and decision page (extend, accept, deny, rebut).

Thin: rules live in services, selectors and policy. Anyone but the signed-in client gets 404
on the client's pages; the staff pages answer 404 to anyone who may not read the request and
403 to someone who may read it but not decide (policy.can_decide_amendment).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.amendments import selectors, services
from kapflow.amendments.forms import (
    AcceptForm,
    DenyForm,
    DisagreementForm,
    ExtensionForm,
    RebuttalForm,
    RequestForm,
)
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.views import add_errors, staff_actor


def _call(form, service, /, **kwargs) -> tuple[object, int]:
    """Run a service for a form: (result, 200), or (None, status) with the errors on the
    form. Not found and not allowed are raised (404, 403)."""
    try:
        return service(**kwargs), 200
    except (NotFound, PermissionDenied):
        raise
    except ValidationError as exc:
        add_errors(form, exc)
        return None, 422
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None, 409


# ---- the client ------------------------------------------------------------------------------


def _client_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise Http404()
    return actor


@login_required
def mine(request):
    actor = _client_actor(request)
    rows = selectors.own_amendments(actor=actor)
    return render(request, "amendments/mine.html", {"amendments": rows})


@login_required
@require_http_methods(["GET", "POST"])
def mine_new(request):
    actor = _client_actor(request)
    client = selectors.own_client(actor=actor)
    responses = selectors.own_responses(client=client)
    initial = {}
    if request.GET.get("part") in {"demographics", "assessment", "note", "other"}:
        initial["part"] = request.GET["part"]
    form = RequestForm(
        request.POST if request.method == "POST" else None, responses=responses, initial=initial
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            row, status = _call(form, services.amendment_request, actor=actor, **form.cleaned_data)
            if row is not None:
                messages.success(
                    request,
                    "Your request has been sent. The practice will answer by "
                    f"{row.due_on:%Y-%m-%d}.",
                )
                return redirect("amendments:mine_detail", amendment_id=row.pk)
    return render(
        request, "amendments/mine_new.html", {"form": form, "client": client}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def mine_detail(request, amendment_id: int):
    actor = _client_actor(request)
    row = selectors.own_amendment_get(
        actor=actor, amendment_id=amendment_id, audit=request.method == "GET"
    )
    form = DisagreementForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            saved, status = _call(
                form, services.amendment_disagree, actor=actor, amendment_id=row.pk,
                statement=form.cleaned_data["statement"],
            )  # fmt: skip
            if saved is not None:
                messages.success(request, "Your statement has been added to your record.")
                return redirect("amendments:mine_detail", amendment_id=row.pk)
    return render(
        request,
        "amendments/mine_detail.html",
        {"row": row, "client": row.client, "form": form},
        status=status,
    )


# ---- the practice ----------------------------------------------------------------------------


@login_required
def queue(request):
    actor = staff_actor(request)
    show = "all" if request.GET.get("show") == "all" else "open"
    rows = selectors.amendment_queue(actor=actor, show=show)
    return render(
        request,
        "amendments/queue.html",
        {"amendments": rows, "show": show, "overdue": sum(1 for r in rows if r.overdue)},
    )


def _detail_context(actor, row, refusal: str = "", **forms) -> dict:
    can_decide = policy.can_decide_amendment(actor, row.client)
    notes = selectors.note_choices(actor=actor, client=row.client) if can_decide else []
    return {
        "refusal": refusal,
        "row": row,
        "client": row.client,
        "can_decide": can_decide,
        "extension_form": forms.get("extension_form") or ExtensionForm(),
        "accept_form": forms.get("accept_form")
        or AcceptForm(notes=notes, initial={"amendment_text": row.should_say}),
        "deny_form": forms.get("deny_form") or DenyForm(notes=notes),
        "rebuttal_form": forms.get("rebuttal_form") or RebuttalForm(),
        "notes_offered": bool(notes) and row.part in ("note", "other"),
    }


@login_required
def detail(request, amendment_id: int):
    actor = staff_actor(request)
    row = selectors.amendment_get_for_actor(actor=actor, amendment_id=amendment_id)
    return render(request, "amendments/detail.html", _detail_context(actor, row))


def _post(request, amendment_id: int, form_class, form_key: str, service, success: str, **extra):
    """Run one of the decision page's forms; on refusal, the page again with the errors."""
    actor = staff_actor(request)
    row = selectors.amendment_get_for_actor(actor=actor, amendment_id=amendment_id, audit=False)
    if not policy.can_decide_amendment(actor, row.client):
        raise PermissionDenied("You may read this request but not act on it.")
    kwargs = {}
    if form_class in (AcceptForm, DenyForm):
        kwargs["notes"] = selectors.note_choices(actor=actor, client=row.client)
    form = form_class(request.POST, **kwargs)
    status, refusal = 422, ""
    if form.is_valid():
        try:
            service(actor=actor, amendment_id=row.pk, **extra, **form.cleaned_data)
        except (NotFound, PermissionDenied):
            raise
        except ValidationError as exc:
            add_errors(form, exc)
        except DomainError as exc:
            # A rule refused (already decided, too late to extend): shown above the request,
            # since the form it came from may no longer be offered.
            status, refusal = 409, exc.message
        else:
            messages.success(request, success)
            return redirect("amendments:detail", amendment_id=row.pk)
    return render(
        request, "amendments/detail.html",
        _detail_context(actor, row, refusal=refusal, **{form_key: form}), status=status,
    )  # fmt: skip


@login_required
@require_POST
def extend(request, amendment_id: int):
    return _post(
        request, amendment_id, ExtensionForm, "extension_form", services.amendment_extend,
        "Deadline extended by 30 days; the client has been told.",
    )  # fmt: skip


@login_required
@require_POST
def accept(request, amendment_id: int):
    return _post(
        request, amendment_id, AcceptForm, "accept_form", services.amendment_decide,
        "Request accepted; the amendment is now part of the record and the client has been "
        "told.", decision="accept",
    )  # fmt: skip


@login_required
@require_POST
def deny(request, amendment_id: int):
    return _post(
        request, amendment_id, DenyForm, "deny_form", services.amendment_decide,
        "Request denied; the client has been told and may file a statement of disagreement.",
        decision="deny",
    )  # fmt: skip


@login_required
@require_POST
def rebut(request, amendment_id: int):
    return _post(
        request, amendment_id, RebuttalForm, "rebuttal_form", services.amendment_rebut,
        "Rebuttal saved; the client has been sent a copy.",
    )  # fmt: skip
