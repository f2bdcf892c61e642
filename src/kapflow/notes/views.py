"""Note pages: a client's notes, a new note from a template, the editor (htmx autosave, with
a Save button that works without JavaScript), signing, addenda, the co-sign queue, the PDF
of one note and the records-request bundle, and the supervision page for practice admins.

Thin: rules live in services, selectors and policy. Clients, companions and billers get 404
on every page (policy.notes_queryset and policy.can_list_notes say who reads what).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.audit.exports import export_response
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.form_tokens import form_token_exempt
from kapflow.core.views import add_errors, call_for_form, staff_actor
from kapflow.notes import selectors, services
from kapflow.notes.forms import (
    AddendumForm,
    NoteNewForm,
    SectionsForm,
    SignatureForm,
    SupervisionForm,
    section_field_name,
)
from kapflow.notes.models import NoteFormat, NoteKind, SessionType
from kapflow.notes.pdf import render_notes, render_records_bundle


def _id(value) -> int | None:
    value = value or ""
    return int(value) if value.isdecimal() and 0 < int(value) < 2**63 else None


def _call(form, service, /, **kwargs) -> tuple[object, int]:
    """Run a service for a form: (result, 200), or (None, status) with the errors on the form.
    A refusal to someone who may see the note but not do this is a 403, not a form error."""
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


def _pdf_response(content: bytes, filename: str, **audit) -> HttpResponse:
    """The PDF with its SHA-256 sent (Repr-Digest) and audited as `note.export` (audit)."""
    return export_response(
        body=content, content_type="application/pdf", filename=filename, action="note.export",
        **audit,
    )  # fmt: skip


@login_required
def client_notes(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_for_notes(actor=actor, client_id=client_id)
    notes = selectors.note_list(actor=actor, client=client)
    return render(
        request,
        "notes/list.html",
        {
            "client": client,
            "notes": notes,
            "can_write": policy.can_write_note(actor, client, "dosing", NoteKind.PROGRESS)
            or policy.can_write_note(actor, client, "therapy", NoteKind.PROGRESS),
            "can_export": policy.can_export_records(actor, client),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def note_new(request):
    """/notes/new/?client=<id>&course=<id>&appointment=<id>&session=<id>&type=dosing (ids
    only). The session screen posts straight here with every choice made: the draft, filled
    in from the session's record, opens at once."""
    actor = staff_actor(request)
    params = request.POST if request.method == "POST" else request.GET
    client_id = _id(params.get("client"))
    if client_id is None:
        raise Http404()
    client = selectors.client_for_notes(actor=actor, client_id=client_id)
    course_id, appointment_id = _id(params.get("course")), _id(params.get("appointment"))
    session_id = _id(params.get("session"))
    initial = {}
    if request.GET.get("type") in SessionType.values:
        initial["session_type"] = request.GET["type"]
    if request.GET.get("format") in NoteFormat.values:
        initial["format"] = request.GET["format"]
    # Offer only what the actor may write (a partner prescriber: medical sessions).
    session_types = [
        t for t in SessionType.values if policy.can_write_note(actor, client, t, NoteKind.PROGRESS)
    ]
    if not session_types:
        raise PermissionDenied("You may read this client's notes but not write them.")
    kinds = [
        k for k in NoteKind.values if any(policy.can_write_note(actor, client, t, k) for t in
                                          session_types)
    ]  # fmt: skip
    form = NoteNewForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        session_types=session_types,
        kinds=kinds,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        note = call_for_form(
            form, services.note_create, actor=actor, client_id=client.pk,
            session_type=data["session_type"], format=data["format"], kind=data["kind"],
            course_id=course_id, appointment_id=appointment_id,
            dosing_session_id=session_id, session_date=data["session_date"],
        )  # fmt: skip
        if note is not None:
            return redirect("notes:detail", note.pk)
    return render(
        request,
        "notes/new.html",
        {
            "client": client,
            "form": form,
            "course_id": course_id,
            "appointment_id": appointment_id,
            "session_id": session_id,
        },
        status=422 if form.errors else 200,
    )


def _detail_context(actor, note, **forms) -> dict:
    editing = policy.can_edit_note(actor, note)
    return {
        "note": note,
        "client": note.client,
        "editing": editing,
        "sections_form": forms.get("sections_form")
        or (SectionsForm(note=note) if editing else None),
        "sign_form": forms.get("sign_form") or SignatureForm(),
        "addendum_form": forms.get("addendum_form") or AddendumForm(),
        "cosign_form": forms.get("cosign_form") or SignatureForm(),
        "can_addendum": policy.can_add_addendum(actor, note),
        "can_cosign": policy.can_cosign_note(actor, note),
        "shown_sections": _shown_sections(note),
        "will_need_cosign": editing and selectors.is_supervised(membership=actor),
        "content_intact": selectors.content_intact(note),
        "part_amendments": getattr(note, "record_amendments", []),
    }


def _shown_sections(note) -> list[tuple]:
    from kapflow.clinical.notes import note_template

    template = note_template(note.session_type, note.format)
    return [(s, note.sections.get(s.key, "")) for s in template.sections]


@login_required
def note_detail(request, note_id: int):
    actor = staff_actor(request)
    note = selectors.note_get_for_actor(actor=actor, note_id=note_id)
    return render(request, "notes/detail.html", _detail_context(actor, note))


def _save_sections(actor, note, form) -> tuple[object, int]:
    """Autosave the posted sections. Returns (note or None, status)."""
    try:
        saved = services.note_autosave(
            actor=actor, note_id=note.pk, version=form.cleaned_data["version"],
            sections=form.sections(),
        )  # fmt: skip
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            exc = ValidationError(
                {section_field_name(k) if k != "sections" else k: v
                 for k, v in exc.error_dict.items()}
            )  # fmt: skip
        add_errors(form, exc)
        return None, 422
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        # note.stale (saved elsewhere since) or note.signed: nothing was saved.
        form.add_error(None, exc.message)
        return None, 409
    return saved, 200


@form_token_exempt  # saved again on every pause in typing; the version guards it
@login_required
@require_POST
def note_autosave(request, note_id: int):
    """The editor's save: htmx posts here as the clinician types (a status partial comes
    back, with the new version swapped into the form); the Save button posts here without
    JavaScript and is redirected back to the note."""
    actor = staff_actor(request)
    note = selectors.note_get_for_actor(actor=actor, note_id=note_id, audit=False)
    form = SectionsForm(request.POST, note=note)
    if not form.is_valid():
        status = 422
        saved = None
    else:
        saved, status = _save_sections(actor, note, form)
    if request.htmx:
        return render(
            request,
            "notes/_autosave_status.html",
            {"note": saved or note, "form": form, "saved": saved is not None},
            status=status,
        )
    if saved is not None:
        messages.success(request, "Draft saved.")
        return redirect("notes:detail", note.pk)
    return render(
        request,
        "notes/detail.html",
        _detail_context(actor, note, sections_form=form),
        status=status,
    )


@login_required
@require_POST
def note_sign(request, note_id: int):
    """Sign from the editor: the posted sections are saved first (so nothing typed since the
    last autosave is lost), then the note is signed with the typed name."""
    actor = staff_actor(request)
    note = selectors.note_get_for_actor(actor=actor, note_id=note_id, audit=False)
    sign_form = SignatureForm(request.POST)
    sections_form = SectionsForm(request.POST, note=note) if "version" in request.POST else None
    status = 422
    editing = sections_form is not None and policy.can_edit_note(actor, note)
    if editing and sections_form.is_valid():
        saved, status = _save_sections(actor, note, sections_form)
        if saved is None:
            return render(
                request, "notes/detail.html",
                _detail_context(actor, note, sections_form=sections_form), status=status,
            )  # fmt: skip
        note = saved
        sections_form = SectionsForm(
            data={**request.POST.dict(), "version": note.version}, note=note
        )
        sections_form.is_valid()
    if sign_form.is_valid():
        try:
            services.note_sign(
                actor=actor, note_id=note.pk,
                signature_name=sign_form.cleaned_data["signature_name"],
            )  # fmt: skip
        except ValidationError as exc:
            status = 422
            for key, errors in exc.message_dict.items():
                if key == "signature_name":
                    sign_form.add_error("signature_name", errors)
                elif sections_form is not None and section_field_name(key) in sections_form.fields:
                    sections_form.add_error(section_field_name(key), errors)
                else:
                    sign_form.add_error(None, errors)
        except (NotFound, PermissionDenied):
            raise
        except DomainError as exc:
            sign_form.add_error(None, exc.message)
            status = 409
        else:
            messages.success(request, "Note signed and locked.")
            return redirect("notes:detail", note.pk)
    note = selectors.note_get_for_actor(actor=actor, note_id=note.pk, audit=False)
    return render(
        request, "notes/detail.html",
        _detail_context(actor, note, sections_form=sections_form, sign_form=sign_form),
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def note_delete(request, note_id: int):
    actor = staff_actor(request)
    note = selectors.note_get_for_actor(actor=actor, note_id=note_id, audit=False)
    if request.method == "POST":
        client_id = note.client_id
        try:
            services.note_delete(actor=actor, note_id=note.pk)
        except (NotFound, PermissionDenied):
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("notes:detail", note.pk)
        messages.success(request, "Draft deleted.")
        return redirect("notes:client", client_id)
    if not policy.can_edit_note(actor, note):
        raise Http404()
    return render(request, "notes/confirm_delete.html", {"note": note})


@login_required
@require_POST
def note_addendum(request, note_id: int):
    actor = staff_actor(request)
    note = selectors.note_get_for_actor(actor=actor, note_id=note_id, audit=False)
    form = AddendumForm(request.POST)
    status = 422
    if form.is_valid():
        added, status = _call(
            form, services.addendum_add, actor=actor, note_id=note.pk,
            text=form.cleaned_data["text"],
        )  # fmt: skip
        if added is not None:
            messages.success(request, "Addendum added.")
            return redirect("notes:detail", note.pk)
    return render(
        request, "notes/detail.html", _detail_context(actor, note, addendum_form=form),
        status=status,
    )  # fmt: skip


@login_required
@require_POST
def note_cosign(request, note_id: int):
    actor = staff_actor(request)
    note = selectors.note_get_for_actor(actor=actor, note_id=note_id, audit=False)
    form = SignatureForm(request.POST)
    status = 422
    if form.is_valid():
        done, status = _call(
            form, services.note_cosign, actor=actor, note_id=note.pk,
            signature_name=form.cleaned_data["signature_name"],
        )  # fmt: skip
        if done is not None:
            messages.success(request, "Note co-signed.")
            return redirect("notes:cosign_queue")
    return render(
        request, "notes/detail.html", _detail_context(actor, note, cosign_form=form),
        status=status,
    )  # fmt: skip


@login_required
def cosign_queue(request):
    actor = staff_actor(request)
    notes = selectors.cosign_queue(actor=actor)
    return render(request, "notes/cosign_queue.html", {"notes": notes})


@login_required
def note_pdf(request, note_id: int):
    actor = staff_actor(request)
    try:
        note = selectors.note_for_export(actor=actor, note_id=note_id)
    except NotFound:
        raise
    except DomainError as exc:  # a draft: only signed notes are exported
        return HttpResponse(exc.message, status=409, content_type="text/plain")
    return _pdf_response(
        render_notes([note], title=f"Note #{note.pk}"), f"note-{note.pk}.pdf",
        actor=actor, target=note, client_id=note.client_id,
    )  # fmt: skip


@login_required
def records_pdf(request, client_id: int):
    """Every signed progress note of the client (no psychotherapy notes, no drafts)."""
    actor = staff_actor(request)
    client = selectors.client_for_notes(actor=actor, client_id=client_id)
    if not policy.can_export_records(actor, client):
        raise Http404()
    notes = selectors.records_bundle_notes(actor=actor, client=client)
    content = render_records_bundle(
        client, notes, generated_by=actor.user.full_name or actor.user.email
    )
    return _pdf_response(
        content, f"client-{client.pk}-notes.pdf",
        actor=actor, targets=notes, target=client, client_id=client.pk,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def supervision(request):
    actor = staff_actor(request)
    if not policy.can_manage_supervision(actor):
        raise Http404()
    clinicians = selectors.practice_clinicians(actor=actor)
    form = SupervisionForm(request.POST or None, clinicians=clinicians)
    if request.method == "POST" and "end" in request.POST:
        ended = _id(request.POST.get("end"))
        if ended is None:
            raise Http404()
        try:
            services.supervision_end(actor=actor, supervision_id=ended)
            messages.success(request, "Supervision ended.")
        except NotFound:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("notes:supervision")
    if request.method == "POST" and form.is_valid():
        started = call_for_form(
            form, services.supervision_start, actor=actor,
            supervisee_id=form.cleaned_data["supervisee"],
            supervisor_id=form.cleaned_data["supervisor"],
        )  # fmt: skip
        if started is not None:
            messages.success(request, "Supervision recorded.")
            return redirect("notes:supervision")
    return render(
        request,
        "notes/supervision.html",
        {"form": form, "supervisions": selectors.supervision_list(actor=actor)},
        status=422 if form.errors else 200,
    )
