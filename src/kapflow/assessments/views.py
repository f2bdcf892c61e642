"""Questionnaire pages: the client's assessments (staff), entering and correcting, urgent
safety tasks, the client's portal questionnaires, and the one-time link."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kapflow import policy
from kapflow.assessments import selectors, services
from kapflow.assessments.forms import AssignForm, CorrectionForm, InstrumentForm, ResolveForm
from kapflow.assessments.models import Source
from kapflow.audit.services import audit_route_not_found
from kapflow.clinical import instruments
from kapflow.core.errors import DomainError, NotFound
from kapflow.core.views import add_errors, call_for_form, redirect_to_next, staff_actor


def _instrument_or_404(code: str):
    try:
        return instruments.get(code)
    except KeyError as exc:
        raise Http404() from exc


@login_required
def client_assessments(request, client_id: int):
    actor = staff_actor(request)
    data = selectors.client_assessments(actor=actor, client_id=client_id)
    form = AssignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["schedule"] == "plan":
            done = call_for_form(
                form, services.plan_create, actor=actor, client_id=client_id,
                instrument=form.cleaned_data["instrument"],
            )  # fmt: skip
        else:
            done = call_for_form(
                form, services.assignment_create, actor=actor, client_id=client_id,
                instrument=form.cleaned_data["instrument"], due_at=form.cleaned_data["due_at"],
            )  # fmt: skip
        if done is not None:
            messages.success(request, "Questionnaire assigned; it appears in the client's portal.")
            return _back(request, client_id)
    data.update(
        form=form,
        registry=instruments.REGISTRY,
        can_assess=policy.can_assess(actor, _with_team(data["client"])),
    )
    return render(request, "assessments/client.html", data)


def _back(request, client_id: int):
    """Back where the clinician came from: the course page when opened from a course
    (`?course=<id>`, an id only; the course page checks access), else the client's list."""
    course_id = request.GET.get("course", "")
    if course_id.isdigit() and len(course_id) < 12:
        return redirect("courses:detail", course_id=int(course_id))
    return redirect("assessments:client", client_id=client_id)


def _with_team(client):
    from kapflow.patients.models import Client

    return Client.objects.prefetch_related("care_team").get(pk=client.pk)


@login_required
def enter(request, client_id: int, instrument: str):
    actor = staff_actor(request)
    inst = _instrument_or_404(instrument)
    data = selectors.client_assessments(actor=actor, client_id=client_id)
    form = InstrumentForm(request.POST or None, instrument=inst)
    if request.method == "POST" and form.is_valid():
        done = call_for_form(
            form, services.response_enter, actor=actor, client_id=client_id,
            instrument=inst.code, answers=form.answers(), total=form.cleaned_data.get("total"),
        )  # fmt: skip
        if done is not None:
            messages.success(request, f"{inst.short_name} saved.")
            return _back(request, client_id)
    return render(
        request,
        "assessments/enter.html",
        {"client": data["client"], "instrument": inst, "form": form},
        status=422 if form.errors else 200,
    )


@login_required
def response_detail(request, response_id: int):
    actor = staff_actor(request)
    response = selectors.response_get_for_actor(actor=actor, response_id=response_id)
    inst = _instrument_or_404(response.instrument)
    form = InstrumentForm(
        request.POST or None,
        instrument=inst,
        initial={**response.answers, "total": response.total},
    )
    correction = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and correction.is_valid():
        new = call_for_form(
            form, services.response_correct, actor=actor, response_id=response.pk,
            reason=correction.cleaned_data["reason"], answers=form.answers(),
            total=form.cleaned_data.get("total"),
        )  # fmt: skip
        if new is not None:
            messages.success(request, "Correction saved as a new response; the original is kept.")
            return redirect("assessments:response", response_id=new.pk)
    items = [(item, response.answers.get(item.id)) for item in inst.items]
    return render(
        request,
        "assessments/response.html",
        {"response": response, "instrument": inst, "items": items, "form": form,
         "correction": correction, "part_amendments": _amendments(response)},
    )  # fmt: skip


def _amendments(response) -> list:
    # What the client asked to amend in this response, and what was decided (decision 0035).
    from kapflow.amendments.selectors import amendments_for_response

    return amendments_for_response(response=response)


@login_required
def urgent_task(request, task_id: int):
    actor = staff_actor(request)
    task = selectors.urgent_task_get_for_actor(actor=actor, task_id=task_id)
    form = ResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = call_for_form(
            form, services.urgent_task_resolve, actor=actor, task_id=task.pk,
            **form.cleaned_data,
        )  # fmt: skip
        if done is not None:
            messages.success(request, "Risk assessment and decision recorded.")
            return redirect("patients:detail", client_id=task.client_id)
    inst = _instrument_or_404(task.response.instrument) if task.response_id else None
    return render(
        request, "assessments/urgent.html", {"task": task, "form": form, "instrument": inst}
    )


@login_required
@require_POST
def link_send(request, assignment_id: int):
    actor = staff_actor(request)
    try:
        link = services.link_send(actor=actor, assignment_id=assignment_id)
    except NotFound as exc:
        raise Http404() from exc
    except (ValidationError, DomainError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect_to_next(request, request.POST.get("next"))
    messages.success(request, "A one-time link was e-mailed to the client.")
    return redirect("assessments:client", client_id=link.assignment.client_id)


# ---- the client's own questionnaires --------------------------------------------------------


@login_required
def portal_list(request):
    if not policy.is_client_actor(request.actor):
        raise Http404()
    return render(
        request,
        "assessments/portal_list.html",
        {
            "assignments": selectors.portal_assignments(user=request.user),
            "registry": instruments.REGISTRY,
        },
    )


def _fill(request, assignment, *, source, token=None, template="assessments/fill.html"):
    inst = _instrument_or_404(assignment.instrument)
    initial = selectors.draft_answers(assignment=assignment)
    form = InstrumentForm(request.POST or None, instrument=inst, initial=initial)
    if request.method == "POST" and form.is_valid():
        submit = "submit" in request.POST
        try:
            services.response_save(
                assignment_id=assignment.pk,
                answers=form.answers(),
                submit=submit,
                source=source,
                actor=request.actor if source == Source.PORTAL else None,
                token=token,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if not submit:
                messages.info(request, "Saved. You can finish later.")
                return redirect(request.path)
            return render(
                request, "assessments/thanks.html", {"instrument": inst, "link": token is not None}
            )
    return render(
        request,
        template,
        {"instrument": inst, "form": form, "assignment": assignment, "link": token is not None},
        status=422 if form.errors else 200,
    )


@login_required
def portal_fill(request, assignment_id: int):
    if not policy.is_client_actor(request.actor):
        raise audit_route_not_found(request)
    assignment = selectors.portal_assignment(
        user=request.user, assignment_id=assignment_id, actor=request.actor
    )
    return _fill(request, assignment, source=Source.PORTAL)


def link_fill(request, token: str):
    """Answer through a one-time link: no sign-in, no PHI on the page."""
    try:
        _, assignment = services.link_assignment(token=token)
    except NotFound:
        return render(request, "assessments/link_expired.html", status=404)
    return _fill(request, assignment, source=Source.LINK, token=token)
