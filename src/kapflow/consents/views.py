"""Consent pages: the practice's documents (admins publish), the client's portal (sign, read
what was signed, withdraw), and the staff view of a client's signatures.

Views stay thin: forms in, services and selectors out. Service errors go beside the fields
(core.views.add_errors); refusals of a rule show above the form.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from kapflow import policy
from kapflow.consents import selectors, services
from kapflow.consents.forms import PublishForm, SignForm, WithdrawForm
from kapflow.core import clock
from kapflow.core.views import call_for_form, staff_actor

# ---- staff: the practice's documents ------------------------------------------------------


@login_required
def documents(request):
    actor = staff_actor(request)
    rows = selectors.document_list(actor=actor)
    can_publish = policy.can_publish_consent(actor)
    form = PublishForm(request.POST or None, initial={"kind": request.GET.get("kind", "kap")})
    if request.method == "POST":
        if not can_publish:
            raise PermissionDenied()
        if form.is_valid():
            document = call_for_form(
                form, services.document_publish, actor=actor, **form.cleaned_data
            )
            if document is not None:
                messages.success(
                    request,
                    f"Published {document.get_kind_display()}, version {document.version}. "
                    "Every client must sign it again.",
                )
                return redirect("consents:documents")
    return render(
        request,
        "consents/documents.html",
        {"rows": rows, "form": form, "can_publish": can_publish},
        status=422 if form.errors else 200,
    )


@login_required
def document_detail(request, document_id: int):
    actor = staff_actor(request)
    document = selectors.document_get(actor=actor, document_id=document_id)
    return render(request, "consents/document.html", {"document": document})


# ---- staff: a client's signatures -----------------------------------------------------------


@login_required
def client_consents(request, client_id: int):
    actor = staff_actor(request)
    consents = selectors.client_consents_get(actor=actor, client_id=client_id)
    return render(
        request,
        "consents/client.html",
        {
            "consents": consents,
            "client": consents.client,
            "can_withdraw": policy.can_withdraw_consent_for(actor, consents.client),
            "form": WithdrawForm(),
        },
    )


@login_required
def signature_detail(request, signature_id: int):
    actor = staff_actor(request)
    signature = selectors.signature_get_for_actor(actor=actor, signature_id=signature_id)
    return render(
        request,
        "consents/signature.html",
        {"signature": signature, "intact": signature.content_sha256 == _sha(signature)},
    )


@login_required
def signature_withdraw(request, signature_id: int):
    """A clinician on the care team withdraws consent on the client's behalf, with a reason."""
    actor = staff_actor(request)
    signature = selectors.signature_get_for_actor(actor=actor, signature_id=signature_id)
    if not policy.can_withdraw_consent_for(actor, signature.client):
        raise PermissionDenied()
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = call_for_form(
            form, services.consent_withdraw, actor=actor, signature_id=signature.pk,
            reason=form.cleaned_data["reason"],
        )  # fmt: skip
        if done is not None:
            messages.success(
                request, "Consent withdrawn. Dosing is blocked until the client signs again."
            )
            return redirect("consents:client", client_id=signature.client_id)
    return render(
        request,
        "consents/withdraw.html",
        {"signature": signature, "form": form, "staff": True},
        status=422 if form.errors else 200,
    )


def _sha(signature) -> str:
    return signature.document.content_sha256


# ---- the client's own consents --------------------------------------------------------------


@login_required
def mine(request):
    consents = selectors.own_consents(actor=request.actor)
    return render(request, "consents/mine.html", {"consents": consents})


@login_required
def sign(request, document_id: int):
    client, document = selectors.own_document(actor=request.actor, document_id=document_id)
    # The client's membership is in the practice that holds their record (decision 0027).
    today = clock.clinical_date(request.actor.organisation)
    form = SignForm(request.POST or None, initial={"signed_on": today})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        signature = call_for_form(
            form, services.consent_sign, actor=request.actor, document_id=document.pk,
            typed_name=data["typed_name"], signed_on=data["signed_on"],
            understood=data["understood"], drawn_signature=data["drawn_signature"],
        )  # fmt: skip
        if signature is not None:
            return _after_signing(request, document, signature)
    current = selectors.current_documents(organisation=client.organisation_id).get(document.kind)
    return render(
        request,
        "consents/sign.html",
        {
            "client": client,
            "document": document,
            "is_current": current is not None and current.pk == document.pk,
            "current": current,
            "form": form,
            "today": today,
        },
        status=422 if form.errors else 200,
    )


def _after_signing(request, document, signature):
    """Straight on to the next document waiting for the client's signature, so four forms
    are four signatures and no trips back to the list; after the last, what was signed."""
    waiting = [s for s in selectors.own_consents(actor=request.actor).statuses if s.can_sign]
    signed = f"Signed: {document.title}, version {document.version}."
    if waiting:
        left = len(waiting)
        messages.success(
            request,
            f"{signed} {left} more form{'s' if left > 1 else ''} to sign: "
            f"{waiting[0].current.title} is next.",
        )
        return redirect("consents:sign", document_id=waiting[0].current.pk)
    messages.success(request, f"{signed} Every consent form is signed; your care team can see it.")
    return redirect("consents:signed", signature_id=signature.pk)


@login_required
def signed(request, signature_id: int):
    signature = selectors.own_signature(actor=request.actor, signature_id=signature_id)
    return render(
        request,
        "consents/signed.html",
        {"signature": signature, "intact": signature.content_sha256 == _sha(signature)},
    )


@login_required
def withdraw(request, signature_id: int):
    signature = selectors.own_signature(actor=request.actor, signature_id=signature_id)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = call_for_form(
            form, services.consent_withdraw, actor=request.actor, signature_id=signature.pk,
            reason=form.cleaned_data["reason"],
        )  # fmt: skip
        if done is not None:
            messages.success(
                request,
                "You withdrew your consent. Your care team sees this on your record; no dosing "
                "session will take place unless you sign again.",
            )
            return redirect("consents:mine")
    return render(
        request,
        "consents/withdraw.html",
        {"signature": signature, "form": form, "staff": False},
        status=422 if form.errors else 200,
    )
