"""Secure-message pages: the inbox, a new conversation, a thread with its reply form, adding
a participant, and the attachment download.

Thin: each view asks one selector or service. Anyone who may not use messaging (billers,
companions, people without a membership) gets 404 on every page, as does anyone for a thread
they do not take part in. URLs carry ids only.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from kapflow import policy
from kapflow.audit.services import audit_route_not_found
from kapflow.core.errors import PermissionDenied
from kapflow.core.form_tokens import form_token_guard
from kapflow.core.views import call_for_form
from kapflow.messaging import files, safety, selectors, services
from kapflow.messaging.forms import AddParticipantForm, MessageForm, NewThreadForm
from kapflow.messaging.models import ThreadKind

# The thread id whose last message showed the crisis notice; popped by the next thread page.
URGENT_SESSION_KEY = "messaging_urgent_notice"


def limit_uploads(view):
    """Cap attachment bytes while the body is read (files.AttachmentLimitHandler). Upload
    handlers must be set before anything reads request.POST, and the CSRF middleware does, so
    the check moves inside: Django's documented csrf_exempt + csrf_protect pattern. The form
    token check (decision 0038) reads request.POST too, so it moves inside with it."""
    protected = csrf_protect(form_token_guard(view))

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST":
            request.upload_handlers.insert(0, files.AttachmentLimitHandler(request))
        return protected(request, *args, **kwargs)

    return wrapper


def messaging_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.can_use_messaging(actor):
        raise audit_route_not_found(request)
    return actor


def _is_client_side(actor) -> bool:
    return policy.is_client_actor(actor) and not policy.is_staff_actor(actor)


def _after_send(request, message):
    if message.urgent_notice_shown:
        request.session[URGENT_SESSION_KEY] = message.thread_id
    else:
        messages.success(request, "Message sent.")
    return redirect("messaging:thread", thread_id=message.thread_id)


@login_required
def inbox(request):
    actor = messaging_actor(request)
    page = selectors.thread_list(actor=actor, page=request.GET.get("page") or 1)
    return render(
        request,
        "messaging/inbox.html",
        {"page": page, "client_side": _is_client_side(actor), "notice": safety.NOTICE},
    )


@limit_uploads
@login_required
def thread_new(request):
    actor = messaging_actor(request)
    client_side = _is_client_side(actor)
    if client_side:
        own = selectors.own_client_record(actor=actor)
        form = NewThreadForm(request.POST or None, request.FILES or None)
    else:
        # ?client=<id> (from a client's page) offers just that client; otherwise every client
        # the actor may message about.
        wanted = request.GET.get("client", "")
        only = int(wanted) if wanted.isascii() and wanted.isdecimal() and len(wanted) < 19 else None
        clients = selectors.messageable_clients(actor=actor, client_id=only)
        initial = {"client": only} if only else {}
        form = NewThreadForm(
            request.POST or None,
            request.FILES or None,
            clients=clients,
            kinds=selectors.thread_kinds_for(actor),
            initial=initial,
        )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        thread = call_for_form(
            form,
            services.thread_start,
            actor=actor,
            client_id=own.pk if client_side else data["client"],
            kind=data.get("kind") or ThreadKind.CARE,
            subject=data["subject"],
            body=data["body"],
            attachments=data["attachments"],
        )
        if thread is not None:
            return _after_send(request, thread.messages.order_by("pk").first())
    return render(
        request,
        "messaging/new.html",
        {"form": form, "client_side": client_side, "notice": safety.NOTICE},
        status=422 if form.errors else 200,
    )


@limit_uploads
@login_required
def thread(request, thread_id: int):
    actor = messaging_actor(request)
    form = MessageForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            message = call_for_form(
                form,
                services.message_send,
                actor=actor,
                thread_id=thread_id,
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
            )
            if message is not None:
                return _after_send(request, message)
        # A refused reply shows the thread again (audited like any other view of it).
        detail = selectors.thread_detail(actor=actor, thread_id=thread_id)
    else:
        detail = selectors.thread_detail(actor=actor, thread_id=thread_id)
        services.thread_mark_read(actor=actor, thread_id=thread_id)
    urgent = request.session.pop(URGENT_SESSION_KEY, None) == detail.thread.pk
    candidates = selectors.add_candidates(actor=actor, thread=detail.thread)
    return render(
        request,
        "messaging/thread.html",
        {
            "detail": detail,
            "thread": detail.thread,
            "form": form,
            "add_form": AddParticipantForm(candidates=candidates) if candidates else None,
            "client_side": _is_client_side(actor),
            "notice": safety.NOTICE,
            "urgent": urgent,
            "show_client": not _is_client_side(actor),
        },
        status=422 if form.errors else 200,
    )


@login_required
@require_POST
def participant_add(request, thread_id: int):
    actor = messaging_actor(request)
    thread = selectors.thread_get_for_actor(actor=actor, thread_id=thread_id, audit_action="")
    if not policy.can_manage_thread_participants(actor, thread):
        raise PermissionDenied("Only the practice adds people to a conversation.")
    form = AddParticipantForm(
        request.POST, candidates=selectors.add_candidates(actor=actor, thread=thread)
    )
    if form.is_valid():
        done = call_for_form(
            form,
            services.thread_participant_add,
            actor=actor,
            thread_id=thread.pk,
            membership_id=form.cleaned_data["membership_id"],
        )
        if done is not None:
            messages.success(request, "Added to the conversation.")
            return redirect("messaging:thread", thread_id=thread.pk)
    messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect("messaging:thread", thread_id=thread.pk)


@login_required
def attachment_download(request, attachment_id: int):
    actor = messaging_actor(request)
    attachment = selectors.attachment_get_for_actor(actor=actor, attachment_id=attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404() from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    # Never rendered by the browser: downloaded, not sniffed, and sandboxed if opened.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
