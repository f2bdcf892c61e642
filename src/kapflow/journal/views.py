"""Journal pages: the client's own entries (list, write, edit, delete) and, for staff, the
entries a client shared on a course. Thin: the rules live in services, selectors and policy.

Anyone who is not the signed-in client (companions and staff included) gets 404 on the
client's pages; the staff page answers 404 to anyone policy.can_read_shared_journal refuses.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kapflow import policy
from kapflow.audit.services import audit_route_not_found
from kapflow.core.views import call_for_form, staff_actor
from kapflow.journal import selectors, services
from kapflow.journal.forms import EntryForm
from kapflow.journal.models import EntryKind


def _client_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise audit_route_not_found(request)
    return actor


def _saved_message(entry) -> str:
    if entry.shared:
        return "Saved and shared with your therapist."
    return "Saved. This entry is private: only you can read it."


def _initial(request, sessions) -> dict:
    """Pre-fill from links such as ?kind=integration&dosing_event=12 (values checked)."""
    initial = {}
    if request.GET.get("kind") in EntryKind.values:
        initial["kind"] = request.GET["kind"]
    wanted = request.GET.get("dosing_event", "")
    if wanted.isdecimal() and any(str(e.pk) == wanted for e in sessions):
        initial["dosing_event"] = int(wanted)
    return initial


@login_required
def entry_list(request):
    actor = _client_actor(request)
    entries = selectors.entries_for_client(actor=actor)
    return render(request, "journal/list.html", {"entries": entries})


@login_required
@require_http_methods(["GET", "POST"])
def entry_new(request):
    actor = _client_actor(request)
    client = selectors.own_client(actor=actor)
    sessions = selectors.dosing_sessions_for_client(client=client)
    form = EntryForm(
        request.POST if request.method == "POST" else None,
        sessions=sessions,
        initial=_initial(request, sessions),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        entry = call_for_form(
            form, services.entry_create, actor=actor, kind=data["kind"], body=data["body"],
            shared=data["shared"], dosing_event_id=data["dosing_event"],
        )  # fmt: skip
        if entry is not None:
            messages.success(request, _saved_message(entry))
            return redirect("journal:list")
    return render(
        request,
        "journal/form.html",
        {"form": form, "entry": None},
        status=422 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def entry_edit(request, entry_id: int):
    actor = _client_actor(request)
    entry = selectors.entry_get_for_client(actor=actor, entry_id=entry_id)
    sessions = selectors.dosing_sessions_for_client(client=entry.client)
    form = EntryForm(
        request.POST if request.method == "POST" else None,
        sessions=sessions,
        initial={
            "kind": entry.kind,
            "dosing_event": entry.dosing_event_id,
            "body": entry.body,
            "shared": entry.shared,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = call_for_form(
            form, services.entry_update, actor=actor, entry_id=entry.pk, kind=data["kind"],
            body=data["body"], shared=data["shared"], dosing_event_id=data["dosing_event"],
        )  # fmt: skip
        if saved is not None:
            messages.success(request, _saved_message(saved))
            return redirect("journal:list")
    return render(
        request,
        "journal/form.html",
        {"form": form, "entry": entry},
        status=422 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def entry_delete(request, entry_id: int):
    actor = _client_actor(request)
    entry = selectors.entry_get_for_client(actor=actor, entry_id=entry_id)
    if request.method == "POST":
        services.entry_delete(actor=actor, entry_id=entry.pk)
        messages.success(request, "Entry deleted.")
        return redirect("journal:list")
    return render(request, "journal/confirm_delete.html", {"entry": entry})


@login_required
def course_entries(request, course_id: int):
    actor = staff_actor(request)
    course = selectors.course_for_journal(actor=actor, course_id=course_id)
    entries = selectors.shared_entries_for_course(actor=actor, course=course)
    return render(request, "journal/course.html", {"course": course, "journal_entries": entries})
